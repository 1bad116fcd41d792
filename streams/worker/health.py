"""What the worker's ``/livez``, ``/readyz`` and ``/healthz`` answer.

Alive (``/livez``): the process serves HTTP and its event loop ran its 1-second heartbeat
within ``[health] loop_stall_seconds``. Nothing outside the process counts, so Kubernetes
restarts a worker only when a restart can help.

Ready (``/readyz``, and ``/healthz`` for compatibility) needs all four checks:

- ``assigned``: no rebalance in progress;
- ``recovered``: the tables are recovered from their changelogs;
- ``broker``: the broker answered the last end-offsets request, or did within
  ``[health] broker_timeout_seconds``;
- ``consuming``: no message is waiting (lag 0), or the worker processed one within
  ``[health] stall_seconds``.

:class:`HealthState` is pure bookkeeping on a monotonic clock passed in; :class:`BrokerProbe`
is the one I/O boundary (a consumer of its own, in no group, asking for end offsets every
``check_interval_seconds``); :func:`check_broker` joins them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.core.config import HealthSettings
from streams.errors import describe

log = logging.getLogger("ccpulse.worker.health")

#: Offsets are keyed by (full topic name, partition).
Partition = tuple[str, int]
EndOffsets = Callable[[list[Partition]], Awaitable[Mapping[Partition, int]]]


@dataclass(frozen=True)
class Verdict:
    """One answer of a probe: ``ok``, each check by name, and why not in words."""

    ok: bool
    checks: dict[str, bool]
    reasons: list[str] = field(default_factory=list)
    lag_messages: int | None = None
    #: How the worker's engines were built since it started (readiness only): restored from
    #: snapshots, records changed since those snapshots caught up with, rebuilt from records.
    engines: dict[str, int] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "ok" if self.ok else "unavailable",
                               "checks": self.checks, "reasons": self.reasons,
                               "lag_messages": self.lag_messages}
        if self.engines is not None:
            out["engines"] = self.engines
        return out


class HealthState:
    """The worker's observations of itself; every method takes ``now_s`` (monotonic)."""

    def __init__(self, settings: HealthSettings, now_s: float) -> None:
        self.settings = settings
        self.broker_ok_at = now_s  # the worker made its topics at start: the broker answered
        self.broker_error: str | None = None
        self.progress_at = now_s
        self.heartbeat_at = now_s
        self.lag_messages: int | None = None
        self._position: int | None = None

    def beat(self, now_s: float) -> None:
        self.heartbeat_at = now_s

    def broker_answered(self, now_s: float, lag_messages: int, position: int) -> None:
        """The broker gave end offsets: ``lag_messages`` wait in total, and ``position`` is
        the sum of the next offsets to process (it moves when the worker consumes)."""
        self.broker_ok_at = now_s
        self.broker_error = None
        if lag_messages == 0 or position != self._position:
            self.progress_at = now_s
        self._position = position
        self.lag_messages = lag_messages

    def broker_failed(self, now_s: float, error: str) -> None:
        self.broker_error = error

    def liveness(self, now_s: float) -> Verdict:
        silent = now_s - self.heartbeat_at
        ok = silent <= self.settings.loop_stall_seconds
        reasons = [] if ok else [f"event loop heartbeat missed for {silent:.0f} s"]
        return Verdict(ok, {"event_loop": ok}, reasons)

    def readiness(self, now_s: float, *, assigned: bool, recovered: bool,
                  built: bool = True) -> Verdict:
        s = self.settings
        unanswered = now_s - self.broker_ok_at
        broker = unanswered <= s.broker_timeout_seconds
        idle = now_s - self.progress_at
        consuming = idle <= s.stall_seconds
        checks = {"assigned": assigned, "recovered": recovered, "built": built,
                  "broker": broker, "consuming": consuming}
        reasons = []
        if not assigned:
            reasons.append("partitions are being rebalanced")
        if not recovered:
            reasons.append("tables are recovering from their changelogs")
        elif not built:
            reasons.append("the engines are being rebuilt from the recovered tables")
        if not broker:
            why = f": {self.broker_error}" if self.broker_error else ""
            reasons.append(f"the broker has not answered for {unanswered:.0f} s{why}")
        if not consuming:
            reasons.append(f"{self.lag_messages} messages wait and none was processed for "
                           f"{idle:.0f} s")
        return Verdict(all(checks.values()), checks, reasons, self.lag_messages)


async def check_broker(state: HealthState, end_offsets: EndOffsets,
                       next_offsets: Mapping[Partition, int], now: Callable[[], float],
                       timeout_s: float) -> None:
    """Ask for the end offsets of the partitions in ``next_offsets`` (partition -> the next
    offset this worker will process) and record the answer, or the failure, in ``state``."""
    try:
        ends = await asyncio.wait_for(end_offsets(sorted(next_offsets)), timeout_s)
    except Exception as exc:  # a timeout, a connection error: the broker did not answer
        state.broker_failed(now(), describe(exc))
        return
    lag = sum(max(0, ends.get(tp, done) - done) for tp, done in next_offsets.items())
    state.broker_answered(now(), lag, sum(next_offsets.values()))


class BrokerProbe:
    """End offsets from the broker through an aiokafka consumer of its own (no group, no
    commits). Started on first use and started afresh after a failure."""

    def __init__(self, bootstrap: str, request_timeout_s: float,
                 security_kwargs: Mapping[str, Any] | None = None) -> None:
        self.bootstrap = bootstrap
        self.security_kwargs = dict(security_kwargs or {})
        self.request_timeout_ms = max(1000, int(request_timeout_s * 1000))
        self._consumer: Any = None

    async def end_offsets(self, partitions: list[Partition]) -> Mapping[Partition, int]:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                request_timeout_ms=self.request_timeout_ms, client_id="ccpulse-health",
                metadata_max_age_ms=30_000, connections_max_idle_ms=60_000,
                **self.security_kwargs)
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            self._consumer = consumer
        try:
            if not partitions:  # nothing assigned: still ask the broker something
                await self._consumer._client.fetch_all_metadata()
                return {}
            ends = await self._consumer.end_offsets(
                [TopicPartition(topic, p) for topic, p in partitions])
        except BaseException:
            await self.close()
            raise
        return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception:  # closing a consumer whose broker is gone
                log.debug("health consumer did not stop cleanly", exc_info=True)
