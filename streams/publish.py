"""Send events to Kafka: each to its type's topic keyed by its entity id (contract §1), or as-is.

Used by ``ccpulse produce`` (JSON-lines files) and ``ccpulse simulate`` (generated events).
Routing is a pure function (:func:`route_line`); :class:`Publisher` is the one I/O boundary,
and takes a producer factory so that tests can hand it a recording fake.

Throughput: the producer batches (``linger_ms``, large batches) and every send only appends to
a batch; delivery is confirmed by callbacks, not awaited one by one. ``acks="all"``: an event
counts as sent only once the partition's in-sync replicas have it. Values go out as the exact
bytes read (a JSON line is not re-encoded), so what the engine sees is what the file held.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from streams.core.events import EVENT_TYPES, entity_key, topic_for_type
from streams.errors import BrokerError, describe
from streams.kafka.admin import MAX_MESSAGE_BYTES, bootstrap_servers
from streams.kafka.security import KafkaSecurity, raise_if_refused

_KNOWN_TYPES = frozenset(EVENT_TYPES)

#: How long a batch may wait for more messages before it is sent: throughput over latency
#: (measured on 2 cores: 25 k events/s at 20 ms, 39 k at 100 ms; a KPI feed scraped every
#: 15 s does not notice 0.1 s).
LINGER_MS = 100
#: The linger of a live source (webhooks, a followed log, the simulator): each event goes out
#: as it happens, within 5 ms (the Java client's default since Kafka 4.0), instead of waiting
#: up to :data:`LINGER_MS` in the producer before the floor can see it. Bulk throughput is
#: within the noise of 100 ms at this machine's rates (`bench/bench_worker.py`'s freshness
#: rows use it too).
LIVE_LINGER_MS = 5
#: Upper bound of one partition batch, in bytes.
MAX_BATCH_BYTES = 512 * 1024
#: Yield to the event loop every this many sends so the producer's sender task keeps up.
YIELD_EVERY = 500


class Route(NamedTuple):
    """Where one message goes."""

    topic: str
    key: bytes | None
    value: bytes


class Unroutable(NamedTuple):
    """A line that could not be sent, and why (for a ``FILE:LINE: reason`` report)."""

    source: str
    line_no: int
    reason: str


@dataclass
class PublishReport:
    """What a publish run did: messages sent per topic, the lines it could not route and
    the empty (or blank) lines it passed over."""

    sent: Counter[str] = field(default_factory=Counter)
    unroutable: list[Unroutable] = field(default_factory=list)
    empty_lines: int = 0

    @property
    def total_sent(self) -> int:
        """Messages sent over all topics."""
        return sum(self.sent.values())


#: The longest line sent: the topics' ``max.message.bytes`` less room for the key, the
#: headers and the record framing (a larger one would fail the whole send at Kafka).
MAX_LINE_BYTES = MAX_MESSAGE_BYTES - 64 * 1024


def route_event(event: dict[str, Any], topic_prefix: str = "") -> Route:
    """The route of a generated event (known to be well formed): its topic, key and JSON."""
    event_type = event["type"]
    key = entity_key(event_type, event)
    topic = topic_for_type(event_type)
    assert topic is not None, f"generated an event of unknown type {event_type!r}"
    return Route(topic_prefix + topic, key.encode() if key else None, orjson.dumps(event))


def route_line(line: bytes, topic_prefix: str = "",
               topic: str | None = None) -> Route | str:
    """Where a JSON line goes, or the reason it cannot be routed.

    With an explicit ``topic`` every line goes there as-is (the way to feed the engine
    deliberately broken input), keyed by its entity id when it has one. Otherwise the line
    must be a JSON object whose ``type`` is a contract §1 event type; its topic is the type's
    topic with ``topic_prefix`` in front. The engine validates the rest.
    """
    value = line.rstrip(b"\r\n")
    if len(value) > MAX_LINE_BYTES:
        return (f"{len(value):,} bytes, more than a topic accepts ({MAX_LINE_BYTES:,} bytes "
                "with the record's key and headers); split or trim the event")
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        if topic is not None:
            return Route(topic, None, value)
        return f"not JSON ({exc})"
    if not isinstance(body, dict):
        return Route(topic, None, value) if topic is not None else (
            f"not a JSON object but {type(body).__name__}")
    event_type = body.get("type")
    known = isinstance(event_type, str) and event_type in _KNOWN_TYPES
    if topic is not None:
        key = entity_key(event_type, body) if known else ""
        return Route(topic, key.encode() if key else None, value)
    if event_type is None:
        return "no \"type\" field"
    if not known:
        return f"unknown type {event_type!r}"
    key = entity_key(event_type, body)
    return Route(topic_prefix + str(topic_for_type(event_type)), key.encode() if key else None,
                 value)


ProducerFactory = Callable[..., Any]


class KeyHashCache:
    """aiokafka's default partitioner (Java-compatible murmur2, so Faust's co-partitioned
    tables agree) remembering each key's hash.

    Keys repeat -- a call has about eight events, an agent hundreds -- and the pure-Python
    murmur2 was the largest single cost of sending. Unkeyed messages go to a random partition,
    as before.
    """

    def __init__(self, max_keys: int = 200_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._max_keys = max_keys

    def __call__(self, key: bytes | None, all_partitions: list[int],
                 available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return all_partitions[hashed % len(all_partitions)]


class Publisher:
    """An open Kafka producer that counts what it sends and fails loudly on lost messages."""

    def __init__(self, broker: str, *, topic_prefix: str = "",
                 producer_factory: ProducerFactory = AIOKafkaProducer,
                 linger_ms: int = LINGER_MS, security: KafkaSecurity | None = None) -> None:
        self.topic_prefix = topic_prefix
        self.report = PublishReport()
        self._servers = bootstrap_servers(broker)
        self._security = security or KafkaSecurity()
        self._producer = producer_factory(
            bootstrap_servers=self._servers, acks="all", linger_ms=linger_ms,
            max_batch_size=MAX_BATCH_BYTES, max_request_size=MAX_MESSAGE_BYTES,
            request_timeout_ms=30_000,
            partitioner=KeyHashCache(), **self._security.aiokafka_kwargs())
        self._failures: list[tuple[str, BaseException]] = []
        self._queued = 0
        self._outstanding = 0

    async def __aenter__(self) -> Publisher:
        # A failed start is reported once, below; aiokafka would log each attempt before it.
        aiokafka_log = logging.getLogger("aiokafka")
        level = aiokafka_log.level
        aiokafka_log.setLevel(logging.CRITICAL)
        try:
            await self._producer.start()
        except Exception as exc:  # aiokafka raises several unrelated types here
            await self._producer.stop()
            await raise_if_refused(self._servers, self._security)  # a refused login: say so
            raise BrokerError(
                f"could not connect to Kafka at {self._servers} ({describe(exc)}). "
                "Is it running, and is that the right address? (The local broker starts "
                "with `ccpulse kafka start`; another is set with --broker or "
                "CCPULSE_BROKER.)") from exc
        finally:
            aiokafka_log.setLevel(level)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, route: Route) -> None:
        """Queue one message; delivery is checked at :meth:`flush`."""
        future = await self._producer.send(route.topic, route.value, key=route.key)
        self._outstanding += 1
        future.add_done_callback(functools.partial(self._delivered, route.topic))
        self.report.sent[route.topic] += 1
        self._queued += 1
        if self._queued % YIELD_EVERY == 0:
            await asyncio.sleep(0)

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send a generated event to its type's topic, keyed by its entity id."""
        await self.send(route_event(event, self.topic_prefix))

    async def send_lines(self, lines: Iterable[tuple[str, int, bytes]],
                         topic: str | None = None) -> None:
        """Send ``(source, line_no, line)`` triples; blank lines are counted and skipped,
        unroutable ones are recorded in the report and skipped."""
        for source, line_no, line in lines:
            if not line.strip():
                self.report.empty_lines += 1
                continue
            route = route_line(line, self.topic_prefix, topic)
            if isinstance(route, str):
                self.report.unroutable.append(Unroutable(source, line_no, route))
            else:
                await self.send(route)

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged; raise if any was lost."""
        await self._producer.flush()
        while self._outstanding:  # delivery callbacks run soon after their batch completes
            await asyncio.sleep(0.001)
        too_large = [topic for topic, exc in self._failures
                     if isinstance(exc, MessageSizeTooLargeError)]
        if too_large:
            raise BrokerError(
                f"Kafka at {self._servers} refused {len(too_large)} message(s) to "
                f"{', '.join(sorted(set(too_large)))} as too large (MessageSizeTooLargeError): "
                "larger than the topic's max.message.bytes (or the broker's "
                "message.max.bytes). ccpulse creates its topics with "
                f"{MAX_MESSAGE_BYTES:,} bytes; a topic created otherwise has the broker's "
                "default (1 MiB in Kafka's own): raise it with `kafka-configs.sh --alter "
                "--entity-type topics --entity-name TOPIC --add-config "
                f"max.message.bytes={MAX_MESSAGE_BYTES}`, or send smaller events")
        if self._failures:
            _, first = self._failures[0]
            raise BrokerError(
                f"Kafka at {self._servers} did not accept {len(self._failures)} message(s) "
                f"({type(first).__name__}: {first}). Check the broker log and that the topics "
                "exist (or auto-creation is on).")

    def _delivered(self, topic: str, future: asyncio.Future[Any]) -> None:
        self._outstanding -= 1
        if future.cancelled():
            self._failures.append((topic, asyncio.CancelledError("delivery cancelled")))
        elif future.exception() is not None:
            self._failures.append((topic, future.exception()))  # type: ignore[arg-type]
