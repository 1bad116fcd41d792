"""The broker stopped and started again while the worker and a producer run.

The worker has its own broker (``new_local_broker``): a backlog is produced and applied, a live
feed sends the present in real time, and in the middle of the feed the broker is stopped
(SIGTERM, a clean shutdown) and started again on the same ports and state directory. During the
outage ``/healthz`` and ``/readyz`` answer 503 naming the broker, ``/livez`` 200; afterwards the
same worker process, never restarted, is ready again and its KPIs equal ``ccpulse replay`` of
every event that reached Kafka, value for value.

The feed's producer outlasts the outage (its batches wait for the broker instead of expiring
after 30 s, and are idempotent, so a retry never writes an event twice), and the test checks
that the source topics hold exactly the events sent: the replay gets exactly what Kafka holds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka_reads import committed_offsets
from traffic import LiveFeed, now_ms, produce, recent_and_live, write_jsonl
from worker_harness import (
    WAIT_TIMEOUT_S,
    Worker,
    family_total,
    free_port,
    wait_equals_replay,
    wait_for,
)
from worker_harness import (
    get_json as get,
)

from streams.publish import Publisher
from streams.simulate.model import IntradayProfile
from streams.simulate.pacing import paced
from streams.simulate.scenarios import contact_centre
from streams.simulate.sinks import send_to_kafka
from streams.worker.app import SOURCE_TOPICS

BROKER_TIMEOUT_S = 4
CHECK_INTERVAL_S = 1
PAST_MS = 15 * 60_000
#: The live feed's length: the outage (~20 s here: the stop, the 503s, 3 s more, the start)
#: falls in its middle; what it sends into the outage waits for the broker.
LIVE_MS = 40_000
PARTITIONS = 4
#: How long the feed's batches wait for the broker before they fail (aiokafka: the batch TTL).
FEED_BATCH_TTL_MS = 180_000


class OutageProofFeed(LiveFeed):
    """A :class:`LiveFeed` whose producer waits out a broker outage: idempotent, and its
    batches retried for ``FEED_BATCH_TTL_MS`` instead of 30 s. :meth:`finish` waits until every
    event was sent and acknowledged (``Publisher`` raises on any lost message)."""

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()

        def producer(**options: Any) -> AIOKafkaProducer:
            return AIOKafkaProducer(**{**options, "request_timeout_ms": FEED_BATCH_TTL_MS,
                                       "enable_idempotence": True})

        async with Publisher(self.bootstrap, topic_prefix=self.prefix,
                             producer_factory=producer) as publisher:
            start = now_ms()
            await send_to_kafka(
                paced(self.events, speed=1.0, start_ms=start, wall_epoch_ms=start), publisher,
                lambda _: self._count())

    def finish(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), (
            f"the feed did not finish within {timeout_s:.0f} s ({self.sent} sent)")
        if self.error is not None:
            raise AssertionError(f"the live feed failed: {self.error!r}") from self.error


async def messages_in(bootstrap: str, topics: list[str]) -> int:
    """How many messages ``topics`` hold (end offsets; nothing is ever deleted here)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await asyncio.sleep(0)  # aiokafka: a consumer stopped before its tasks ran raises
        partitions = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def committed_in(bootstrap: str, group: str, topics: list[str]) -> int:
    """How many messages of ``topics`` the consumer group ``group`` has committed."""
    return sum(max(0, offset) for (topic, _), offset in
               (await committed_offsets(bootstrap, group)).items() if topic in topics)


def test_broker_restart_under_a_live_feed_the_worker_recovers_alone_and_equals_the_replay(
        new_local_broker, unique_name, tmp_path):
    broker = new_local_broker()
    broker.start(timeout_s=WAIT_TIMEOUT_S)
    prefix = unique_name + "."
    config = tmp_path / "ccpulse.toml"
    config.write_text(f"[health]\nbroker_timeout_seconds = {BROKER_TIMEOUT_S}\n"
                      f"check_interval_seconds = {CHECK_INTERVAL_S}\n")
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    past, live = recent_and_live(busy, seed=31, past_ms=PAST_MS, live_ms=LIVE_MS)
    assert len(past) > 300 and len(live) > 20, (len(past), len(live))
    past_file = write_jsonl(tmp_path / "past.jsonl", past)
    live_file = write_jsonl(tmp_path / "live.jsonl", live)
    worker = Worker(broker.bootstrap, unique_name, prefix, tmp_path / "w", free_port(),
                    partitions=PARTITIONS)
    worker.env["CCPULSE_CONFIG"] = str(config)
    try:
        worker.start()
        pid = worker.proc.pid if worker.proc else None
        produce(broker.bootstrap, prefix, past_file)
        wait_for(lambda: family_total(worker, "cc_events_total") >= len(past),
                 "the worker to apply the backlog", worker)

        with OutageProofFeed(broker.bootstrap, prefix, live) as feed:
            wait_for(lambda: feed.sent >= 5, "the live feed to send", worker)
            broker.stop()
            sent_at_stop = feed.sent
            wait_for(lambda: get(worker.url + "/healthz")[0] == 503,
                     "/healthz to answer 503 with the broker stopped", worker)
            for path in ("/healthz", "/readyz"):
                status, body = get(worker.url + path)
                assert status == 503 and body["checks"]["broker"] is False, (path, body)
                assert any("broker" in reason for reason in body["reasons"]), (path, body)
            assert get(worker.url + "/livez")[0] == 200  # alive: a restart would not help
            time.sleep(3)  # the feed keeps sending into the outage
            broker.start(timeout_s=WAIT_TIMEOUT_S)  # same object: same ports, same state
            assert feed.sent > sent_at_stop, "nothing was sent during the outage"
            wait_for(lambda: get(worker.url + "/healthz")[0] == 200,
                     "/healthz to answer 200 once the broker is back", worker)
            assert get(worker.url + "/readyz")[0] == 200
            feed.finish(LIVE_MS / 1000 + WAIT_TIMEOUT_S)

        assert feed.sent == len(live)
        sources = [prefix + t for t in SOURCE_TOPICS]
        held = asyncio.run(messages_in(broker.bootstrap, sources))
        assert held == len(past) + len(live), "the source topics hold other than what was sent"
        wait_equals_replay(worker, [past_file, live_file])
        # the checkpoint and the commits resumed too: everything applied is committed
        wait_for(lambda: asyncio.run(committed_in(broker.bootstrap, unique_name, sources))
                 == held, "the worker to commit every message after the outage", worker)
        assert worker.proc is not None and worker.proc.poll() is None
        assert worker.proc.pid == pid, "the worker recovered by itself, without a restart"
    finally:
        worker.stop()
