"""Faust wiring: topics, tables, one agent per source topic, and the web views.

Faust's fetch loop hands each fetched batch of a source topic to ``handle_batch``
(``streams.worker.inline``), which applies every message synchronously and completely through
the ingest step the replay runs too (``streams.ingest``: decode, validate, apply, count). Every
exception of an event is caught there, because an exception escaping the handler would stop the
worker (and one escaping a Faust agent acks and *skips* the message, faust#175): an invalid
event goes to the dead-letter topic instead, and a bug in the engine is logged with the event's
coordinates and counted, never silently dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST

from streams.core.config import Config
from streams.core.entities.kinds import STATEFUL_TOPICS
from streams.core.events import DEADLETTER_TOPIC, EVENT_TYPES, TOPIC_OF_FAMILY, topic_for_type
from streams.core.metrics import new_family
from streams.exporter import Exposition, chunks, render_parts
from streams.ingest import INVALID, ingest
from streams.kafka import bootstrap_servers
from streams.kafka.admin import DEADLETTER_MAX_MESSAGE_BYTES
from streams.kafka.security import security_from
from streams.staffing_page import ASSETS as STAFFING_ASSETS
from streams.staffing_page import asset as staffing_asset
from streams.staffing_page import staffing_model
from streams.validation import REASONS
from streams.wallboard import ASSETS, asset, wallboard_model
from streams.webconfig import WebConfig, auth_middleware, load_web_config
from streams.worker.checkpoint import flush_before_commit
from streams.worker.deadletter import DeadLetters, Letter, LetterProducer
from streams.worker.health import BrokerProbe, HealthState, Verdict, check_broker
from streams.worker.inline import Record, install_inline_drain
from streams.worker.isolation import read_committed
from streams.worker.membership import remember_member
from streams.worker.restore import next_to_restore, restore_batch
from streams.worker.scrape_rhythm import ScrapeRhythm, catch_up_before_reads, catch_up_off
from streams.worker.snapshots import Snapshots
from streams.worker.state import TP, WorkerState
from streams.worker.status import status
from streams.worker.store_options import STORE_URL, store_memory, table_options
from streams.worker.warm_up import warm_up_new_minutes

log = logging.getLogger("ccpulse.worker")

SOURCE_TOPICS = tuple(dict.fromkeys(TOPIC_OF_FAMILY.values()))  # cc.calls, cc.chats, ...

#: How long the group waits for a silent member before it moves its partitions, and how
#: often members heartbeat (a third of it, as Kafka recommends).
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 3.0
#: Largest Kafka batch of a checkpoint's changelog writes (a larger record goes alone).
CHANGELOG_BATCH_BYTES = 512 * 1024
#: Bytes fetched per partition and request (``max_partition_fetch_bytes``).
FETCH_BYTES_PER_PARTITION = 4 * 1024 * 1024
#: Records the fetch loop takes from aiokafka at a time (``max_poll_records``). aiokafka keeps
#: what it fetched as raw batches and makes each record a Python object only when it is taken:
#: Faust's default (all of them) turned a full fetch of a backlog, up to 50 MiB of events, into
#: tens of MiB of small objects at once, and CPython keeps the arenas of such a peak. 20,000
#: (one or two partitions' fetches of call events) kept the worker's RSS 80-90 MiB lower over
#: 10 M events, for ~9 % of a single topic's backlog rate (5,000: a little lower again, at a
#: cost within the same noise; docs/performance.md, "Memory").
POLL_RECORDS = 20_000
#: Reason code of an event that was valid but made the engine fail (a bug): dead-lettered too.
PROCESSING_ERROR = "processing_error"

HEADER_REASON = "ccpulse.reason"
HEADER_REASON_CODE = "ccpulse.reason_code"
HEADER_TOPIC = "ccpulse.source.topic"
HEADER_PARTITION = "ccpulse.source.partition"
HEADER_OFFSET = "ccpulse.source.offset"

#: The probes answer without credentials when basic auth is on: the kubelet's HTTP probes
#: (and Docker's healthcheck) carry none. They tell only whether the worker is up and ready.
OPEN_PATHS = ("/livez", "/readyz", "/healthz")


#: A client of /metrics is named by its address and at most this much of its User-Agent.
MAX_AGENT_CHARS = 80


def broker_url(broker: str) -> str:
    return broker if "://" in broker else f"kafka://{broker}"


def keep_buffers_on_resume(flow_control: Any) -> None:
    """Make Faust's flow control resume without emptying the agents' buffers.

    mode's ``FlowControlEvent.resume()`` also clears every queue made with
    ``clear_on_resume`` — each agent's buffer of fetched messages. Faust's table recovery
    calls ``resume()`` several times after a rebalance, and by the later calls the fetcher
    already runs: whatever it has put in a buffer is dropped although the consumer's read
    offset has moved past it, and the acks of the next messages commit past the hole. The
    event is lost for good (about one three-worker start-up in ten, with events arriving just
    after the last rebalance, lost one). Nothing needs that clear: on revocation Faust clears
    the buffers itself (``App._on_partitions_revoked``), streams skip messages of an older
    generation, and a message fetched again after recovery's seek is a duplicate the engine
    recognises by its event id.
    """
    suspended, resumed = getattr(flow_control, "_suspend", None), getattr(
        flow_control, "_resume", None)
    if not all(callable(getattr(e, m, None)) for e in (suspended, resumed)
               for m in ("set", "clear")):
        raise RuntimeError("mode's FlowControlEvent changed: keep_buffers_on_resume needs "
                           "its _suspend and _resume events")

    def resume() -> None:
        suspended.clear()  # type: ignore[union-attr]
        resumed.set()  # type: ignore[union-attr]

    flow_control.resume = resume


class Pipeline:
    """The Faust app with its topics, tables, agents and pages, built from a config."""

    def __init__(self, config: Config, web: WebConfig | None = None) -> None:
        d = config.deployment
        #: Kafka TLS/SASL of every client of this worker: Faust's, the dead-letter producer's
        #: and the broker probe's (streams.kafka.security).
        security = security_from(d)
        self.config = config
        #: TLS and basic auth of the web server (``streams.webconfig``); off by default.
        self.web = load_web_config(d.web_config_file) if web is None else web
        auth = self.web.basic_auth()
        self.prefix = d.topic_prefix
        self.app = faust.App(
            d.app_id,
            broker=broker_url(d.broker),
            broker_credentials=security.faust_credentials(),
            # local state on disk (a restart reads only the changelog tail): Faust's RocksDB
            # store with one memory budget for all its databases (streams.worker.store_options)
            store=STORE_URL,
            datadir=d.data_dir,
            web_enabled=True,
            web_bind=d.web_host,
            web_host=d.web_host,
            web_port=d.web_port,
            web_ssl_context=self.web.ssl_context(),
            # Faust passes these to aiohttp's Application: the login guards every page,
            # Faust's own included, except the probes.
            web_application_options=(
                {"middlewares": [auth_middleware(auth, OPEN_PATHS)]} if auth else None),
            topic_partitions=d.partitions,
            topic_replication_factor=d.replication_factor,
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            # A dead letter carries the original message, up to the source topics' limit.
            producer_max_request_size=DEADLETTER_MAX_MESSAGE_BYTES,
            # A checkpoint's changelog batches (streams.worker.checkpoint): aiokafka sends one
            # batch per partition per request and waits for it, so Faust's 16 KiB made a
            # checkpoint of ~2,500 contact records 14 round trips (0.1-0.25 s); 512 KiB, one.
            producer_max_batch_size=CHANGELOG_BATCH_BYTES,
            # Records fetched per partition and request (Faust's: 1 MiB, ~3,700 call events):
            # the fetch loop waits for each response it has not yet prefetched, a fifth of a
            # backlog's time on one topic of 4 partitions; 4 MiB waits a quarter as often.
            consumer_max_fetch_size=FETCH_BYTES_PER_PARTITION,
            broker_max_poll_records=POLL_RECORDS,
            broker_commit_every=10_000,
            broker_commit_interval=2.8,
            # A worker that dies (SIGKILL, OOM, a lost node) hands its partitions on once the
            # group misses its heartbeats for this long: 10 s (Kafka Streams' long-time
            # default) instead of Faust's 60 s, a minute of frozen wallboard tiles. Nothing
            # blocks the event loop for seconds (batches and rebuilds yield), and a spurious
            # rebalance changes no KPI (docs/decisions.md).
            broker_session_timeout=SESSION_TIMEOUT_S,
            broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
            table_cleanup_interval=3600.0,
            stream_wait_empty=False,
            autodiscover=False,
        )
        keep_buffers_on_resume(self.app.flow_control)
        self.tables = {
            topic: self.app.Table(
                self._state_table_name(topic),
                default=None,
                key_type=bytes,  # bytes types make Faust use the raw codec both ways
                value_type=bytes,
                partitions=d.partitions,
                # small memtables and block cache per database (Faust's: 192 MiB and 2 GiB)
                options=table_options(),
            )
            for topic in STATEFUL_TOPICS
        }
        self.state = WorkerState(
            config, self.tables,
            snapshots=Snapshots(Path(self.app.conf.tabledir) / "engine-snapshots", config))
        #: The consumer generation whose assignment this worker has been given and not had
        #: revoked since (None between a revoke and the next assignment): engines are built,
        #: and events applied, only for it (:meth:`_wanted_engines`).
        self.assigned_generation: int | None = None
        self.state.stats.prime(
            {t: [e for e in EVENT_TYPES if topic_for_type(e) == t] for t in SOURCE_TOPICS},
            [*REASONS, PROCESSING_ERROR],
        )
        self.deadletter = self.app.topic(
            self.prefix + DEADLETTER_TOPIC, key_serializer="raw", value_serializer="raw",
            partitions=d.partitions,
        )
        #: Dead letters wait here until Kafka acknowledges them (streams.worker.deadletter).
        self.letter_producer = LetterProducer(
            bootstrap_servers(d.broker), self.deadletter.get_topic_name(),
            DEADLETTER_MAX_MESSAGE_BYTES, security.aiokafka_kwargs())
        self.deadletters = DeadLetters(self.letter_producer.send)
        #: Full topic name (with the prefix) -> base name (``cc.calls``).
        self.base_topics: dict[str, str] = {}
        for topic in SOURCE_TOPICS:
            self._add_agent(topic)
        #: Whether the fetch loop holds records of a partition it has not finished with.
        self.inline_holds = install_inline_drain(
            self.app, self.base_topics.__contains__, self.handle_batch,
            restore=partial(restore_batch, self.app, before=self.state.journal_write),
            prepare=self._engine_built, restore_from=partial(next_to_restore, self.app))
        read_committed(self.app)  # a transaction a source aborts is never counted
        self._add_engine_builder()
        self.health = HealthState(config.health, time.monotonic())
        self.probe = BrokerProbe(bootstrap_servers(d.broker), self._probe_timeout_s(),
                                 security.aiokafka_kwargs())
        self._add_health_timers()
        #: The wall clock's seconds when the families were last read (a scrape, the
        #: wallboard, the staffing page); None before any.
        self.families_read_s: float | None = None
        #: When each client of /metrics reads it next (streams.worker.scrape_rhythm); None
        #: with the catch-up turned off (``CCPULSE_NO_SCRAPE_CATCH_UP``).
        self.scrape_rhythm = None if catch_up_off(os.environ) else ScrapeRhythm()
        #: :meth:`_offsets_sum` when the exposition was last rendered (a read, a catch-up).
        self._offsets_at_render = -1
        self._add_minute_warm_up()
        self._add_scrape_catch_up()
        self._add_pages()
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.on_partitions_assigned.connect(self._remember_member)
        self._add_dead_letter_sender()
        flush_before_commit(self.app.consumer, self._before_commit)

    @staticmethod
    def _state_table_name(topic: str) -> str:
        return topic.replace("cc.", "") + "-records"

    # ------------------------------------------------------------------ agents
    def _add_agent(self, topic: str) -> None:
        """Subscribe ``topic`` through a Faust agent (consumer group, assignment, acks); its
        messages reach :meth:`handle_batch` from the inline fetch loop, so the agent's own
        stream only sees one if that loop is not installed."""
        channel = self.app.topic(
            self.prefix + topic, key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw",
            partitions=self.config.deployment.partitions,
        )
        self.base_topics[self.prefix + topic] = topic

        async def consume(stream: Any) -> None:
            async for event in stream.events():
                await self.handle_batch(event.message.tp, [event.message])

        consume.__name__ = "consume_" + topic.replace(".", "_")
        self.app.agent(channel, name=f"ccpulse.{topic}")(consume)

    async def handle_batch(self, tp: Any, records: Sequence[Record]) -> None:
        """Apply ``records`` (one partition, in offset order) through the ingest step.

        Every event is handled completely and synchronously; an invalid one, or one that made
        the engine fail (a bug: logged with its coordinates and counted), goes to the
        dead-letter topic and the others are untouched. Dead letters are put in the
        dead-letter buffer after the batch (waiting for room while it is full), before the
        batch's offsets are acknowledged; the next commit waits until Kafka has them.
        """
        topic = self.base_topics[tp.topic]
        key: TP = (topic, tp.partition)
        engine = self.state.engine(key)
        stats = self.state.stats
        clock_us = self.state.clock_us
        dead: list[tuple[Record, bytes, str, str]] = []
        for record in records:
            raw = record.value
            try:
                if not isinstance(raw, bytes | bytearray):
                    raw = b"" if raw is None else bytes(raw)
                result = ingest(raw, engine, stats, topic=topic, now_us=clock_us())
                if result.outcome == INVALID:
                    invalid = result.invalid
                    dead.append((record, raw, invalid.reason,  # type: ignore[union-attr]
                                 invalid.message))  # type: ignore[union-attr]
            except Exception as exc:  # one event must never stop the others
                log.exception("event at %s[%s]@%s could not be processed", topic,
                              record.partition, record.offset)
                stats.count_invalid(topic, PROCESSING_ERROR)
                dead.append((record, raw if isinstance(raw, bytes) else b"", PROCESSING_ERROR,
                             f"processing failed: {exc!r}"))
        self.state.last_offsets[key] = records[-1].offset
        for record, raw, code, reason in dead:
            await self._dead_letter(record, raw, code, reason)

    async def _dead_letter(self, message: Record, raw: bytes, code: str, reason: str) -> None:
        headers = [
            (HEADER_REASON, reason.encode()),
            (HEADER_REASON_CODE, code.encode()),
            (HEADER_TOPIC, message.topic.encode()),
            (HEADER_PARTITION, str(message.partition).encode()),
            (HEADER_OFFSET, str(message.offset).encode()),
        ]
        await self.deadletters.put(Letter(message.key, raw, headers))

    def _add_dead_letter_sender(self) -> None:
        @self.app.task
        async def send_dead_letters() -> None:
            await self.deadletters.run()

        async def close_letter_producer(sender: Any = None, **_: Any) -> None:
            await self.letter_producer.close()

        self.app.on_before_shutdown.connect(close_letter_producer)
        self.app.on_before_shutdown.connect(self._snapshot_on_stop)

    async def _before_commit(self) -> int:
        """Right before offsets are committed: every dead letter put so far is on its topic
        (no offset is committed past an invalid event whose letter Kafka does not have), then
        the dirty records are written (:meth:`checkpoint`)."""
        await self.deadletters.delivered()
        return await self.checkpoint()

    async def _snapshot_on_stop(self, sender: Any = None, **_: Any) -> None:
        """A clean stop: the fetcher has stopped, so no event is applied any more; write the
        dirty records, then each engine's snapshot (streams.worker.snapshots)."""
        try:
            await self._checkpoint_and_snapshot(None)
        except Exception as exc:  # the records wait in the changelog's absence: no snapshot
            log.warning("no engine snapshots: the last checkpoint failed: %s", exc)

    async def _checkpoint_and_snapshot(self, tps: Any) -> int:
        """Write the dirty records, then the snapshots of the engines of ``tps`` (all: None);
        returns how many records were written."""
        started = time.monotonic()
        written, count = await self.state.checkpoint_and_snapshot(
            self.app.producer._ensure_producer(), tps)
        if count:
            status(f"wrote {count} engine snapshots in {time.monotonic() - started:.1f} s")
        return written

    # ------------------------------------------------------------------ engines
    def _wanted_engines(self) -> set[TP]:
        """The partitions whose engines this worker builds and applies events to: those it
        actively owns in the current generation, once their tables are recovered; none from
        a revoke until the next assignment, whatever Faust's flags say meanwhile."""
        if self.assigned_generation != self.app.consumer_generation_id:
            return set()
        return self.active_partitions() if self.recovered() else set()

    def engines_built(self) -> bool:
        """Every actively owned partition has its engine (rebuilt from the recovered tables)."""
        return all(tp in self.state.engines for tp in self._wanted_engines())

    def _add_engine_builder(self) -> None:
        @self.app.task
        async def build_engines() -> None:
            """Once tables are recovered, rebuild the engines of the active partitions a slice
            of records at a time (``WorkerState.build``): readiness waits for it, and the
            fetch loop waits for a partition's engine before applying its events."""
            while True:
                if self.recovered() and not self.engines_built():
                    started = time.monotonic()
                    before = self.state.from_snapshots
                    caught_up = self.state.caught_up
                    built = await self.state.build(self._wanted_engines)
                    if built:
                        restored = self.state.from_snapshots - before
                        caught_up = self.state.caught_up - caught_up
                        status(f"{built} engines built in {time.monotonic() - started:.1f} s "
                               f"({restored} restored from snapshots and {caught_up} records "
                               f"changed since, {built - restored} rebuilt from their "
                               "records)")
                if self.state.warming:
                    await self.state.warm()
                await asyncio.sleep(0.1)

    async def _engine_built(self, tp: Any) -> bool:
        """Wait until the engine of ``tp`` (a Faust TP) is built — through its assignment's
        recovery, however long — and say True; False (apply nothing) when the partition is
        not, or no longer, this worker's in the current generation."""
        key: TP = (self.base_topics[tp.topic], tp.partition)
        while key not in self.state.engines and self._assigned_now(key):
            await asyncio.sleep(0.05)
        return key in self.state.engines and key in self._wanted_engines()

    def _assigned_now(self, key: TP) -> bool:
        """``key`` is actively this worker's in the generation whose assignment it was
        given (recovered or not)."""
        return (self.assigned_generation == self.app.consumer_generation_id
                and key in self.active_partitions())

    async def checkpoint(self) -> int:
        """Write every dirty record (changelog, acknowledged, then local store)."""
        return await self.state.checkpoint(self.app.producer._ensure_producer())

    # ------------------------------------------------------------------ rebalancing
    def active_partitions(self) -> set[TP]:
        """The source partitions this worker actively owns (standbys excluded)."""
        out: set[TP] = set()
        for tp in self.app.assignor.assigned_actives():
            name = tp.topic[len(self.prefix):] if tp.topic.startswith(self.prefix) else tp.topic
            if name in SOURCE_TOPICS:
                out.add((name, tp.partition))
        return out

    async def _on_revoked(self, sender: Any = None, revoked: Any = (), **_: Any) -> None:
        """Write the dirty records, then forget the engines of the revoked partitions.

        Faust may keep acked offsets of a partition across a rebalance that gives the partition
        back to this worker, and commit them later; so records are written here, not dropped.
        The rebalance cannot finish before this returns, so a new owner recovers them.
        """
        self.assigned_generation = None  # nothing is built or applied until the next one
        gone = []
        for tp in revoked:
            name = tp.topic[len(self.prefix):] if tp.topic.startswith(self.prefix) else tp.topic
            gone.append((name, tp.partition))
        written = await self._checkpoint_and_snapshot(gone)
        log.info("revoked %d partitions: %d dirty records written", len(gone), written)
        self.state.drop(gone)  # a later owner (maybe this worker again) resumes at the commit

    async def _on_assigned(self, sender: Any = None, *_: Any, **__: Any) -> None:
        """A new assignment: engines are built for it from now on, once its own recovery
        has completed. Any engine still held (a safety net: the revoke dropped them all) is
        of no partition this worker owned at the revoke: built from a table no longer kept up
        to date, it would miss what the partition's owners applied meanwhile if the partition
        came back. It is dropped, with its unwritten records (never written to a changelog
        another worker may own now)."""
        # Faust never clears its recovery's "completed", and a recovery of an earlier
        # generation that finishes inside a rebalance sets it (and clears "rebalancing"):
        # this assignment's tables count as recovered once its own recovery sets it again.
        # Safe here: this receiver runs as Faust hands over the assignment, before the
        # recovery task has had a turn of the event loop.
        self.app.tables.recovery.completed.clear()
        stale = sorted(self.state.engines)
        if stale:
            log.warning("dropped the engines of %d partitions not assigned to this worker "
                        "(%s): they are rebuilt from their recovered tables if assigned",
                        len(stale), ", ".join(f"{t}-{p}" for t, p in stale[:6]))
            self.state.drop(stale, unwritten=True)
        self.assigned_generation = self.app.consumer_generation_id

    async def _remember_member(self, sender: Any = None, *_: Any, **__: Any) -> None:
        """Keep this worker's group member id in its data directory: a worker restarted there
        after a crash removes it from the group (``streams.worker.membership``).

        Never raises (an exception in a Faust signal receiver crashes the app): without the
        file only a restart after a crash is slower, by the group's session timeout.
        """
        try:
            member_id = self.app.consumer._thread._ensure_consumer()._coordinator.member_id
            remember_member(self.config.deployment.data_dir, self.app.conf.id, member_id)
        except (AttributeError, OSError) as exc:
            log.warning("cannot record this worker's group member id (%s): a restart after a "
                        "crash will wait for the group's session timeout", exc)

    def recovered(self) -> bool:
        """Partitions assigned and tables recovered: the engines of the active partitions
        hold their whole state."""
        return self.app.tables.recovery.completed.is_set() and not self.app.rebalancing

    # ------------------------------------------------------------------ health
    def _probe_timeout_s(self) -> float:
        h = self.config.health
        return min(h.check_interval_seconds, h.broker_timeout_seconds)

    def _add_health_timers(self) -> None:
        h = self.config.health

        @self.app.timer(1.0, name="ccpulse.health.heartbeat")
        async def heartbeat() -> None:
            self.health.beat(time.monotonic())

        @self.app.timer(h.check_interval_seconds, name="ccpulse.health.broker")
        async def ask_broker() -> None:
            await self.check_broker()

        async def close_probe(sender: Any = None, **_: Any) -> None:
            await self.probe.close()

        self.app.on_before_shutdown.connect(close_probe)

    def next_offsets(self, active: set[TP]) -> dict[TP, int]:
        """The next offset to process of each active partition: after the last message this
        worker processed since the partition was assigned, else the group's committed offset
        (where consumption resumes), and at least where aiokafka has handed over every record
        before (:meth:`_handed_over_to`)."""
        committed = getattr(self.app.consumer, "_committed_offset", {})  # Faust: tp -> next
        out = {}
        for topic, partition in active:
            tp = faust.types.TP(self.prefix + topic, partition)
            out[(topic, partition)] = max(
                self.state.last_offsets.get((topic, partition), -1) + 1,
                committed.get(tp) or 0, self._handed_over_to(tp) or 0)
        return out

    def _handed_over_to(self, tp: Any) -> int | None:
        """aiokafka's position of ``tp`` when every record before it has been handed to this
        worker and applied: nothing of ``tp`` waits in aiokafka's fetcher, nor in the fetch
        loop. Offsets the client skips and never hands over (a transaction's commit marker,
        an aborted transaction's records) lie before it: a partition ending in them showed
        them as lag until its next event (for ever on a quiet one, and the worker as not
        consuming after ``stall_seconds``). None when not known."""
        if self.inline_holds(tp):  # the fetch loop runs on this thread: fixed while we look
            return None
        consumer = getattr(getattr(self.app.consumer, "_thread", None), "_consumer", None)
        try:  # aiokafka's internals, read from the consumer's thread: a gauge's floor
            if consumer is None or tp in consumer._fetcher._records:
                return None
            state = consumer._subscription.subscription.assignment.state_value(tp)
        except AttributeError:  # not started, not subscribed, or aiokafka changed
            return None
        if state is None or not state.has_valid_position:
            return None
        return state.position  # type: ignore[no-any-return]

    async def check_broker(self) -> None:
        """Ask the broker for the end offsets of the active partitions (lag and progress)."""
        active = self.active_partitions() if self.recovered() else set()
        done = {(self.prefix + t, p): offset for (t, p), offset in
                self.next_offsets(active).items()}
        await check_broker(self.health, self.probe.end_offsets, done, time.monotonic,
                           self._probe_timeout_s())

    def readiness(self) -> Verdict:
        assigned = (not self.app.rebalancing
                    and self.assigned_generation == self.app.consumer_generation_id)
        verdict = self.health.readiness(time.monotonic(), assigned=assigned,
                                        recovered=self.app.tables.recovery.completed.is_set(),
                                        built=self.engines_built())
        return replace(verdict, engines=self.state.build_counts())

    # ------------------------------------------------------------------ web
    def _add_minute_warm_up(self) -> None:
        @self.app.task
        async def warm_up() -> None:
            """The families computed just after each minute turns, while they are read
            (``streams.worker.warm_up``): the next scrape does not compute every queue's
            Erlang staffing again."""
            await warm_up_new_minutes(self._families_now, self._clock_s,
                                      lambda: self.families_read_s)

    def _add_scrape_catch_up(self) -> None:
        rhythm = self.scrape_rhythm
        if rhythm is None:
            return

        @self.app.task
        async def catch_up() -> None:
            """The families and their exposition brought up to date just before each read
            of /metrics that its client's rhythm predicts (``streams.worker.scrape_rhythm``).
            """
            await catch_up_before_reads(self._catch_up, rhythm)

    def _catch_up(self) -> bool:
        """The families computed and the exposition's kept lines rewritten, nothing sent;
        nothing (False) when no message was handled since the exposition was last
        rendered."""
        if self._offsets_sum() == self._offsets_at_render:
            return False
        self._render(self.families(read=False))
        return True

    def _offsets_sum(self) -> int:
        """The sum of the partitions' last handled offsets: it moves on with each message
        handled (what tells a catch-up there is something to bring up to date)."""
        return sum(self.state.last_offsets.values())

    def _render(self, families: list[Any]) -> Exposition:
        """The exposition of ``families`` (:func:`streams.exporter.render_parts`), noting
        the messages handled so far as rendered."""
        self._offsets_at_render = self._offsets_sum()
        return render_parts(lambda: families)

    def note_scrape(self, client: str, at_s: float | None = None) -> None:
        """Note a read of /metrics by ``client`` (its address and user agent) at ``at_s``
        (monotonic seconds, default now) in the scrape rhythm; a status line when its
        interval is learned or changes. Nothing with the catch-up turned off."""
        if self.scrape_rhythm is None:
            return
        interval_s = self.scrape_rhythm.read(
            client, time.monotonic() if at_s is None else at_s)
        if interval_s is not None:
            status(f"/metrics is read every {interval_s:.1f} s by {client}: the families "
                   "are brought up to date just before each read")

    def _clock_s(self) -> float:
        return self.state.clock_us() / 1_000_000

    def _families_now(self) -> None:
        self.families(read=False)

    def families(self, read: bool = True) -> list[Any]:
        """One consistent snapshot of every family this worker exports; ``read``: for a
        reader (noted for the minute's warm-up), not the warm-up itself."""
        if read:
            self.families_read_s = self._clock_s()
        active = self._wanted_engines()
        # only partitions whose engines are built: one being rebuilt joins when complete
        # (readiness says so meanwhile) instead of stalling the scrape until it is
        stateful = {tp for tp in active if tp[0] in STATEFUL_TOPICS and tp in self.state.engines}
        families = self.state.families(stateful)
        families.append(self._consumer_lag(active))
        families.append(self.deadletters.family())
        families.append(self._local_store_memory())
        return families

    def snapshot(self) -> Exposition:
        """The exposition of :meth:`families` as pieces to send in order
        (:func:`streams.exporter.render_parts`)."""
        return self._render(self.families())

    def _local_store_memory(self) -> Any:
        """``cc_local_store_memory_bytes``: what the block cache every local RocksDB store of
        this worker shares holds (its memtables charged to it); no sample before a store
        opened, or with a store in memory."""
        fam = new_family("cc_local_store_memory_bytes")
        shared = store_memory(self.app)
        if shared is not None:
            fam.samples[()] = shared.cache.get_usage()
        return fam

    def _consumer_lag(self, active: set[TP]) -> Any:
        """High-water mark minus the next offset to process: after the last message this
        worker processed since the partition was assigned, else the group's committed offset
        (where consumption resumes). Without that floor a partition handed over by a rebalance
        showed its whole length as lag until its next message arrived (never, on a quiet one).
        """
        fam = new_family("cc_consumer_lag_messages")
        consumer = self.app.consumer
        for (topic, partition), done in sorted(self.next_offsets(active).items()):
            try:
                high = consumer.highwater(faust.types.TP(self.prefix + topic, partition))
            except Exception:  # not fetched yet
                continue
            if high is None:
                continue
            fam.samples[(topic, str(partition))] = max(0, high - done)
        return fam

    def _add_pages(self) -> None:
        pipeline = self

        @self.app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            agent = request.headers.get("User-Agent", "-")[:MAX_AGENT_CHARS]
            pipeline.note_scrape(f"{request.remote} {agent}")
            exposition = pipeline.snapshot()  # the whole snapshot, taken now
            # its length known: sent as it is, not chunk-encoded (aiohttp copies each chunk
            # of a chunked body to frame it, on Python before 3.12.9)
            length = sum(map(len, exposition.parts))
            return web.bytes(_served(exposition),  # type: ignore[arg-type]
                             headers={"Content-Type": CONTENT_TYPE_LATEST,
                                      "Content-Length": str(length)})

        for name, content_type in ASSETS.items():
            self._add_asset(name.replace(".html", ""), name, content_type)

        @self.app.page("/wallboard.json")
        async def wallboard_json(web: Any, request: Any) -> Any:
            query = request.query
            model = wallboard_model(
                pipeline.families(), pipeline.config, now_s=time.time(),
                queues=query.getall("queue", []), channels=query.getall("channel", []),
                health=pipeline.readiness().as_json())
            return web.json(model, headers={"Cache-Control": "no-store"})

        for name, content_type in STAFFING_ASSETS.items():
            self._add_staffing_asset(name.replace(".html", ""), name, content_type)

        @self.app.page("/staffing.json")
        async def staffing_json(web: Any, request: Any) -> Any:
            query = request.query
            text = query.get("agents", "")
            if text and not (text.isdigit() and len(text) <= 6):
                return web.json({"error": f"agents must be a whole number ≥ 0, got {text!r}"},
                                status=400)
            model = staffing_model(
                pipeline.families(), pipeline.config, now_s=time.time(),
                queues=query.getall("queue", []), channels=query.getall("channel", []),
                agents=int(text) if text else None)
            return web.json(model, headers={"Cache-Control": "no-store"})

        @self.app.page("/livez")
        async def livez(web: Any, request: Any) -> Any:
            verdict = pipeline.health.liveness(time.monotonic())
            return web.json(verdict.as_json(), status=200 if verdict.ok else 503)

        @self.app.page("/readyz")
        async def readyz(web: Any, request: Any) -> Any:
            verdict = pipeline.readiness()
            return web.json(verdict.as_json(), status=200 if verdict.ok else 503)

        @self.app.page("/healthz")  # readiness, under the name contract §7 and older probes use
        async def healthz(web: Any, request: Any) -> Any:
            verdict = pipeline.readiness()
            return web.json(verdict.as_json(), status=200 if verdict.ok else 503)

    def _add_asset(self, path: str, name: str, content_type: str) -> None:
        asset(name)  # fail at start, not at the first request, when a file is missing

        @self.app.page("/" + path, name=f"asset_{name}")
        async def serve(web: Any, request: Any) -> Any:
            return web.bytes(asset(name), headers={"Content-Type": content_type,
                                            "Cache-Control": "no-cache"})


    def _add_staffing_asset(self, path: str, name: str, content_type: str) -> None:
        staffing_asset(name)  # fail at start, not at the first request, when a file is missing

        @self.app.page("/" + path, name=f"asset_{name}")
        async def serve(web: Any, request: Any) -> Any:
            return web.bytes(staffing_asset(name), headers={"Content-Type": content_type,
                                                     "Cache-Control": "no-cache"})


def build_pipeline(config: Config, web: WebConfig | None = None) -> Pipeline:
    return Pipeline(config, web)


async def _served(exposition: Exposition) -> AsyncIterator[bytes]:
    """An exposition's pieces as a response body (aiohttp sends an async iterable as it
    goes): each long piece as it is, short ones joined (:func:`streams.exporter.chunks`),
    never the whole exposition copied into one object."""
    for chunk in chunks(exposition):
        yield chunk
