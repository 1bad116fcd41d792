"""Routing lines and events to topics and keys, and the publisher's bookkeeping (fake producer)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from streams.errors import BrokerError
from streams.kafka.admin import MAX_MESSAGE_BYTES
from streams.produce_cli import format_report
from streams.publish import (
    MAX_LINE_BYTES,
    KeyHashCache,
    Publisher,
    Route,
    Unroutable,
    route_event,
    route_line,
)

CALL = b'{"event_id":"e1","type":"call.queued","occurred_at":"2026-11-22T09:00:00Z",' \
       b'"call_id":"c-1","queue":"sales"}'


class FakeProducer:
    """Records sends; each delivery succeeds unless ``fail`` is set (True: a timeout, or the
    exception to fail with)."""

    instances: ClassVar[list[FakeProducer]] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.fail: bool | BaseException = False
        self.stopped = False
        FakeProducer.instances.append(self)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    async def flush(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future:
        self.sent.append((topic, key, value))
        delivery = asyncio.get_running_loop().create_future()
        if self.fail:
            delivery.set_exception(self.fail if isinstance(self.fail, BaseException)
                                   else KafkaTimeoutError("no ack"))
        else:
            delivery.set_result(None)
        return delivery


class TestRouteLine:
    @pytest.mark.parametrize(
        ("line", "prefix", "expected"),
        [
            (CALL + b"\n", "", Route("cc.calls", b"c-1", CALL)),
            (CALL, "t1.", Route("t1.cc.calls", b"c-1", CALL)),
            (b'{"type":"agent.state_changed","agent_id":"a-7"}', "",
             Route("cc.agents", b"a-7", b'{"type":"agent.state_changed","agent_id":"a-7"}')),
            (b'{"type":"survey.responded","event_id":"e9","ticket_id":"t-3"}', "",
             Route("cc.feedback", b"t-3",
                   b'{"type":"survey.responded","event_id":"e9","ticket_id":"t-3"}')),
            (b'{"type":"qa.reviewed","event_id":"e9"}', "",
             Route("cc.feedback", b"e9", b'{"type":"qa.reviewed","event_id":"e9"}')),
            (b'{"type":"call.ended"}', "", Route("cc.calls", None, b'{"type":"call.ended"}')),
        ],
        ids=["call-keyed-by-call-id", "prefixed-topic", "agent-keyed-by-agent-id",
             "survey-keyed-by-ticket", "qa-without-subject-keyed-by-event-id",
             "missing-id-means-no-key"],
    )
    def test_routes_a_known_type_to_its_topic_with_its_entity_key(self, line, prefix, expected):
        assert route_line(line, prefix) == expected

    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            (b"{not json", "not JSON"),
            (b"[1, 2]", "not a JSON object but list"),
            (b'{"call_id":"c-1"}', 'no "type" field'),
            (b'{"type":"call.teleported"}', "unknown type 'call.teleported'"),
            (b'{"type":42}', "unknown type 42"),
        ],
        ids=["not-json", "not-an-object", "no-type", "unknown-type", "type-not-a-string"],
    )
    def test_says_why_a_line_cannot_be_routed(self, line, reason):
        result = route_line(line)
        assert isinstance(result, str) and result.startswith(reason)

    @pytest.mark.parametrize(
        ("line", "key"),
        [(b"{not json", None), (b'{"type":"call.teleported"}', None), (CALL, b"c-1")],
        ids=["even-broken-json", "unknown-type-unkeyed", "known-type-keyed"],
    )
    def test_explicit_topic_takes_every_line_as_is(self, line, key):
        assert route_line(line + b"\n", "ignored.", topic="raw") == Route("raw", key, line)

    @pytest.mark.parametrize("topic", [None, "raw"], ids=["routed", "as-is"])
    def test_a_line_larger_than_a_topic_accepts_is_reported_not_sent(self, topic):
        # 9 MiB: it would fail the whole send at Kafka (MessageSizeTooLargeError)
        big = CALL[:-1] + b',"note":"' + b"x" * (9 * 1024 * 1024) + b'"}'
        assert route_line(big, topic=topic) == (
            f"{len(big):,} bytes, more than a topic accepts ({MAX_LINE_BYTES:,} bytes with the "
            "record's key and headers); split or trim the event")
        # a line just inside the limit still goes
        fits = CALL[:-1] + b',"note":"' + b"x" * (MAX_LINE_BYTES - len(CALL) - 11) + b'"}'
        assert len(fits) <= MAX_LINE_BYTES
        assert isinstance(route_line(fits, topic=topic), Route)

    def test_a_generated_event_goes_out_as_compact_json(self):
        event = orjson.loads(CALL)
        assert route_event(event, "p.") == Route("p.cc.calls", b"c-1", orjson.dumps(event))


def publish(lines: list[bytes], fail: bool | BaseException = False,
            **options: Any) -> tuple[Publisher, Any]:
    async def run() -> Publisher:
        publisher = Publisher("kafka://localhost:9092", producer_factory=FakeProducer,
                              **options)
        FakeProducer.instances[-1].fail = fail
        async with publisher:
            await publisher.send_lines(("f.jsonl", n, line) for n, line in enumerate(lines, 1))
        return publisher

    publisher = asyncio.run(run())
    return publisher, FakeProducer.instances[-1]


class TestPublisher:
    def test_counts_what_it_sends_per_topic_and_reports_unroutable_lines_by_number(self):
        agent = b'{"type":"agent.state_changed","agent_id":"a-1"}'
        publisher, producer = publish([CALL, b"\n", b"garbage", agent, CALL], topic_prefix="x.")
        assert publisher.report.sent == {"x.cc.calls": 2, "x.cc.agents": 1}
        assert publisher.report.total_sent == 3
        assert [(u.source, u.line_no) for u in publisher.report.unroutable] == [("f.jsonl", 3)]
        assert isinstance(publisher.report.unroutable[0], Unroutable)
        assert [topic for topic, _, _ in producer.sent] == ["x.cc.calls", "x.cc.agents",
                                                            "x.cc.calls"]

    def test_asks_for_acknowledgement_by_all_replicas_and_batches(self):
        _, producer = publish([CALL])
        assert producer.config["acks"] == "all"
        assert producer.config["linger_ms"] > 0
        assert producer.config["bootstrap_servers"] == "localhost:9092"

    def test_a_lost_message_is_an_error_naming_the_broker(self):
        with pytest.raises(BrokerError, match=r"localhost:9092 did not accept 1 message"):
            publish([CALL], fail=True)
        assert FakeProducer.instances[-1].stopped

    def test_a_message_too_large_for_its_topic_names_the_size_limit_not_missing_topics(self):
        with pytest.raises(BrokerError) as refused:
            publish([CALL, CALL], fail=MessageSizeTooLargeError(), topic_prefix="x.")
        assert str(refused.value) == (
            "Kafka at localhost:9092 refused 2 message(s) to x.cc.calls as too large "
            "(MessageSizeTooLargeError): larger than the topic's max.message.bytes (or the "
            f"broker's message.max.bytes). ccpulse creates its topics with {MAX_MESSAGE_BYTES:,} "
            "bytes; a topic created otherwise has the broker's default (1 MiB in Kafka's own): "
            "raise it with `kafka-configs.sh --alter --entity-type topics --entity-name TOPIC "
            f"--add-config max.message.bytes={MAX_MESSAGE_BYTES}`, or send smaller events")

    def test_counts_the_empty_lines_it_skips(self):
        publisher, producer = publish([CALL, b"\n", b"  \r\n", CALL])
        assert publisher.report.empty_lines == 2
        assert publisher.report.unroutable == []
        assert len(producer.sent) == 2


class TestProduceReport:
    def test_one_event_is_singular(self):
        publisher, _ = publish([CALL], topic_prefix="x.")
        assert format_report(publisher.report) == "sent 1 event\n  x.cc.calls  1"

    def test_says_how_many_unroutable_and_empty_lines_it_skipped(self):
        publisher, _ = publish([CALL, b"garbage", b"\n", CALL, b"\n"], topic_prefix="x.")
        assert format_report(publisher.report).splitlines() == [
            "sent 2 events", "  x.cc.calls  2", "skipped 1 unroutable line (see stderr)",
            "skipped 2 empty lines"]


class TestKeyHashCache:
    @pytest.mark.parametrize("partitions", [1, 3, 8], ids=["1-partition", "3-partitions",
                                                          "8-partitions"])
    def test_picks_the_same_partition_as_the_java_compatible_default(self, partitions):
        cache = KeyHashCache(max_keys=50)
        all_partitions = list(range(partitions))
        for key in [f"call-{n}".encode() for n in range(200)] * 2:
            assert cache(key, all_partitions, all_partitions) == DefaultPartitioner()(
                key, all_partitions, all_partitions)

    def test_spreads_unkeyed_messages_over_the_available_partitions(self):
        assert KeyHashCache()(None, [0, 1, 2], [2]) == 2
