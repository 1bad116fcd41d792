"""The worker reads only committed events: Kafka's ``read_committed`` isolation level.

A source that publishes in Kafka transactions (an exactly-once connector, a Kafka Streams
app) may abort one; its records stay in the log, marked aborted. Faust's consumer reads
``read_uncommitted`` unless the app itself runs exactly-once, so those events would be applied
and counted as if sent. The worker's consumer reads ``read_committed`` instead: aborted records
are skipped by the client (their offsets are holes the fetch loop passes over with a line,
:mod:`streams.worker.inline`), and a transaction still open holds back the partition's later
records until it commits or aborts (Kafka's last stable offset). Producers that do not use
transactions, as most contact-centre systems do not, read exactly as before: for them the last
stable offset is the end of the log.

Definition: Kafka's consumer configuration ``isolation.level`` (KIP-98).
"""

from __future__ import annotations

from typing import Any

ISOLATION_LEVEL = "read_committed"


def read_committed(app: Any) -> None:
    """Make ``app.consumer`` (Faust's aiokafka consumer thread) create its aiokafka consumer
    with ``isolation_level="read_committed"``, whatever Faust's processing guarantee.

    faust-streaming 0.15 passes ``read_committed`` only in its exactly-once mode and offers no
    setting for it; the consumer is created later, in the consumer thread, so this wraps the
    thread's factory and sets the level on the new consumer before it starts (aiokafka hands
    it to its fetcher in ``start``).

    Raises ``RuntimeError`` at start-up when Faust's or aiokafka's internals this relies on
    have changed.
    """
    thread = getattr(app.consumer, "_thread", None)
    create = getattr(thread, "_create_worker_consumer", None)
    if create is None:
        raise RuntimeError("faust's consumer thread changed: the worker cannot set the "
                           "isolation level (no _thread._create_worker_consumer)")

    def create_read_committed(transport: Any) -> Any:
        consumer = create(transport)
        if not hasattr(consumer, "_isolation_level") or consumer._fetcher is not None:
            raise RuntimeError("aiokafka's consumer changed: the worker cannot set the "
                               "isolation level (no _isolation_level, or a fetcher made "
                               "before start)")
        consumer._isolation_level = ISOLATION_LEVEL
        return consumer

    thread._create_worker_consumer = create_read_committed
