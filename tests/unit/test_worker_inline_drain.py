"""The inline fetch loop (streams/worker/inline.py) against a consumer that has exactly the
Faust internals it uses: what is applied, what is acknowledged and when, rebalances, gaps,
and Faust's own path for the topics it does not take."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from streams.logfilter import CollapseRepeats
from streams.worker.inline import acknowledge, install_inline_drain

CALLS = TP("p.cc.calls", 0)
CHANGELOG = TP("p.calls-records-changelog", 0)


def record(tp: TP, offset: int) -> Any:
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=b"k",
                           value=b"v%d" % offset, headers=[])


class Flag:
    def __init__(self) -> None:
        self.on = False

    def is_set(self) -> bool:
        return self.on


class FakeConsumer:
    """Faust's Consumer as far as the inline loop reads and writes it; ``fetches`` are the
    record maps ``_wait_next_records`` returns one after the other, then the loop stops."""

    def __init__(self, app: FakeApp, fetches: list[dict[TP, list[Any]]],
                 commit_every: int | None = None) -> None:
        self.app = app
        self.fetches = list(fetches)
        self._stopped = Flag()
        self.should_stop = False
        self.flow_active = True
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._acked: defaultdict[TP, list[int]] = defaultdict(list)
        self._acked_index: defaultdict[TP, set[int]] = defaultdict(set)
        self._n_acked = 0
        self._commit_every = commit_every
        self._buffered_partitions: set[TP] = set()
        self.gaps: list[tuple[TP, int, int]] = []
        self.delivered: list[int] = []
        self.commits: list[dict[TP, list[int]]] = []
        self.seeks = 0
        self.sought: list[tuple[TP, int]] = []
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self.suspend_flow = asyncio.Event()
        self.consumer_stopped_errors = (RuntimeError,)
        self.transport = SimpleNamespace(app=SimpleNamespace(should_stop=False))

    async def _drain_messages(self, fetcher: Any) -> None:
        raise AssertionError("Faust's own fetch loop ran: it should have been replaced")

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        if not self.fetches:
            self._stopped.on = True
            return {}, set()
        records = self.fetches.pop(0)
        return records, set(records)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def perform_seek(self) -> None:
        self.seeks += 1

    async def seek(self, tp: TP, offset: int) -> None:  # Faust's: the read offset follows
        self.sought.append((tp, offset))
        self._read_offset[tp] = offset if offset else None

    def highwater(self, tp: TP) -> int:
        return 0

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))

    async def commit(self) -> None:
        self.commits.append({tp: list(offsets) for tp, offsets in self._acked.items()})

    def _to_message(self, tp: TP, rec: Any) -> Any:
        return rec

    async def callback(self, message: Any) -> None:
        self.delivered.append(message.offset)

    async def wait_first(self, *coros: Any) -> None:
        first, *rest = coros
        await first
        for c in rest:
            c.close()


class FakeApp:
    def __init__(self) -> None:
        self.consumer_generation_id = 1
        self.topics = SimpleNamespace(acks_enabled_for=lambda topic: True)
        self.monitor = SimpleNamespace(track_tp_end_offset=lambda tp, offset: None)
        self.consumer: FakeConsumer | None = None


def run(fetches: list[dict[TP, list[Any]]], handler: Any, chunk: int = 1000,
        commit_every: int | None = None) -> FakeConsumer:
    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, fetches, commit_every)
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, chunk=chunk)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    return consumer


def test_every_fetched_record_is_applied_once_in_offset_order_and_then_acknowledged():
    applied: list[int] = []
    seen_acked: list[int] = []
    consumer: FakeConsumer | None = None

    async def handler(tp: TP, records: list[Any]) -> None:
        assert consumer is not None
        seen_acked.append(len(consumer._acked[tp]))  # nothing of this chunk acked yet
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in range(5)]},
                                                 {CALLS: [record(CALLS, o) for o in range(5, 9)]}])
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, chunk=3)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))

    assert applied == list(range(9))
    assert seen_acked == [0, 3, 5, 8]  # chunks of 3: 0-2, 3-4, then the next fetch: 5-7, 8
    assert consumer._acked[CALLS] == list(range(9))
    assert consumer._n_acked == 9
    assert consumer._read_offset[CALLS] == 8


def test_a_rebalance_during_a_batch_leaves_the_rest_unapplied_and_unacknowledged():
    applied: list[int] = []
    app_ref: list[FakeApp] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)
        app_ref[0].consumer_generation_id += 1  # a rebalance starts while this chunk runs

    app = FakeApp()
    app_ref.append(app)
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in range(10)]}])
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, chunk=4)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))

    assert applied == [0, 1, 2, 3]
    assert consumer._acked[CALLS] == [0, 1, 2, 3]  # Faust seeks back; 4.. come again


def test_records_fetched_while_the_flow_is_stopped_are_dropped_and_sought_back():
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, 0)]}])
    consumer.flow_active = False
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert applied == []
    assert consumer.seeks >= 1
    assert not consumer._acked[CALLS]


def test_a_partition_not_the_workers_to_apply_is_left_unapplied_and_unacknowledged():
    applied: list[int] = []
    asked: list[TP] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    async def not_ours(tp: TP) -> bool:  # e.g. revoked, the next assignment not yet given
        asked.append(tp)
        return False

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in range(3)]}])
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, prepare=not_ours)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert asked == [CALLS]
    assert applied == []
    assert not consumer._acked[CALLS]
    # no rebalance under way (which would seek back itself): read again from its first
    # record, or the fetch position, already past them, would skip them for good
    assert consumer.sought == [(CALLS, 0)]


def test_a_batch_refused_during_a_rebalance_is_left_to_the_rebalances_seek():
    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in range(3)]}])

    async def revoked(tp: TP) -> bool:
        app.consumer_generation_id += 1
        return False

    install_inline_drain(app, lambda topic: topic == CALLS.topic, lambda tp, r: None,
                         prepare=revoked)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.sought == []
    assert not consumer._acked[CALLS]


def test_records_below_the_read_offset_are_skipped_and_holes_become_gaps():
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    consumer = run([{CALLS: [record(CALLS, o) for o in (3, 4)]},
                    {CALLS: [record(CALLS, o) for o in (2, 4, 9)]}], handler)
    # 2 is older than what was read; 4 again is re-read the way Faust's loop does
    # (offset >= the read offset), and the engine drops it by event id
    assert applied == [3, 4, 4, 9]
    assert consumer.gaps == [(CALLS, 5, 9)]
    assert consumer._acked[CALLS] == [3, 4, 9]


def test_a_hole_before_a_batch_is_read_again_not_skipped():
    """Seen after a rebalance that left the partition here: the read offset was 740, the
    fetch position had passed the rest of a batch abandoned at the revoke, and the next batch
    began at 1347. Faust's loop records 741-1346 as a gap (processed); events in it that were
    never applied were lost. The loop seeks back to the next offset to apply instead."""
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    consumer = run([{CALLS: [record(CALLS, o) for o in range(738, 741)]},
                    {CALLS: [record(CALLS, o) for o in range(1347, 1351)]},
                    {CALLS: [record(CALLS, o) for o in range(741, 1351)]}], handler)
    assert consumer.sought == [(CALLS, 741)]
    assert consumer.gaps == []
    assert applied == [738, 739, 740, *range(741, 1351)]
    assert consumer._acked[CALLS] == list(range(738, 1351))


def test_a_fetch_one_past_the_commit_after_an_assignment_reads_the_commit_again():
    """Right after an assignment Faust's read offset is the committed offset, the next to
    read (``perform_seek``), not the last one read. A rolling restart's rebalance once gave a
    fetch that began one past the commit (offset 27, commit 26): the loop took the read
    offset for the last one read and applied 27 on, and offset 26 (a ticket's ``created``)
    was never applied. It reads the commit again now."""
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in (27, 28)]},
                                                 {CALLS: [record(CALLS, o) for o in (26, 27, 28)]}])
    consumer._committed_offset[CALLS] = 26
    consumer._read_offset[CALLS] = 26  # as Faust's perform_seek leaves it
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.sought == [(CALLS, 26)]
    assert applied == [26, 27, 28]
    assert consumer.gaps == []


class Rebalanced(FakeConsumer):
    """Before its second fetch, a rebalance: a new generation, and Faust's seek to the
    committed offsets (``perform_seek``) sets the read offset to ``commit``."""

    def __init__(self, app: FakeApp, fetches: list[dict[TP, list[Any]]], commit: int) -> None:
        super().__init__(app, fetches)
        self.commit = commit
        self.n = 0

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        self.n += 1
        if self.n == 2:
            self.app.consumer_generation_id += 1
            self._committed_offset[CALLS] = self._read_offset[CALLS] = self.commit
        return await super()._wait_next_records(timeout)


def test_a_read_offset_set_in_an_older_generation_is_taken_as_the_next_to_read():
    """The loop read to offset 5, then a rebalance's seek set the read offset to the commit,
    5 as well (the commit covered up to 4): 5 is the next to read, so a fetch from 6 is a
    hole to read again, not the next batch."""
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = Rebalanced(app, [{CALLS: [record(CALLS, o) for o in range(2, 6)]},
                                               {CALLS: [record(CALLS, o) for o in (6, 7)]},
                                               {CALLS: [record(CALLS, o) for o in (5, 6, 7)]}],
                                         commit=5)
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.sought == [(CALLS, 5)]
    assert applied == [2, 3, 4, 5, 5, 6, 7]  # 5 again: the engine drops it by event id
    assert consumer.gaps == []


def test_a_partition_not_read_since_its_assignment_starts_at_the_groups_commit():
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in (9, 10)]},
                                                 {CALLS: [record(CALLS, o) for o in range(5, 11)]}])
    consumer._committed_offset[CALLS] = 5  # the next to apply: no read offset yet
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.sought == [(CALLS, 5)]
    assert applied == list(range(5, 11))
    assert consumer.gaps == []


def test_a_hole_that_comes_back_after_reading_again_is_a_real_gap():
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    # offsets 4-8 do not exist (compaction, transaction markers): read again from 4, the
    # broker returns 9 first again
    consumer = run([{CALLS: [record(CALLS, o) for o in (2, 3)]},
                    {CALLS: [record(CALLS, o) for o in (9, 10)]},
                    {CALLS: [record(CALLS, o) for o in (9, 10)]}], handler)
    assert consumer.sought == [(CALLS, 4)]
    assert consumer.gaps == [(CALLS, 4, 9)]
    assert applied == [2, 3, 9, 10]


def test_every_partitions_real_gap_is_logged_with_its_offsets(caplog):
    """A hole still absent when read again is passed over; each partition's line names its
    offsets and is one of ccpulse's own, which the log filter never collapses: a held-back
    repeat would look like a hole read again and found."""
    calls_1 = TP(CALLS.topic, 1)

    async def handler(tp: TP, records: list[Any]) -> None:
        pass

    with caplog.at_level(logging.INFO, logger="ccpulse.worker"):
        run([{CALLS: [record(CALLS, o) for o in (2, 3)],
              calls_1: [record(calls_1, o) for o in (0, 1)]},
             {CALLS: [record(CALLS, o) for o in (9, 10)],
              calls_1: [record(calls_1, o) for o in (4, 5)]},
             {CALLS: [record(CALLS, o) for o in (9, 10)],
              calls_1: [record(calls_1, o) for o in (4, 5)]},
             {CALLS: [record(CALLS, 11)], calls_1: [record(calls_1, 6)]}], handler)
    lines = [r for r in caplog.records if "absent" in r.getMessage()]
    assert [r.getMessage() for r in lines] == [
        "ccpulse worker: p.cc.calls-0: offsets 4 to 8 are absent when read again: passed "
        "over (transaction markers, aborted transactions, compacted or deleted records)",
        "ccpulse worker: p.cc.calls-1: offsets 2 to 3 are absent when read again: passed "
        "over (transaction markers, aborted transactions, compacted or deleted records)"]
    collapse = CollapseRepeats()
    assert [collapse.filter(r) for r in lines] == [True, True]


def test_a_hole_in_a_topic_faust_reads_itself_is_left_to_faust():
    consumer = run([{CHANGELOG: [record(CHANGELOG, o) for o in (2, 3)]},
                    {CHANGELOG: [record(CHANGELOG, o) for o in (9, 10)]}],
                   lambda tp, records: None)
    assert consumer.sought == []
    assert consumer.gaps == [(CHANGELOG, 4, 9)]
    assert consumer.delivered == [2, 3, 9, 10]


def test_offsets_below_the_committed_one_are_not_acknowledged_again():
    consumer = FakeConsumer(FakeApp(), [])
    consumer._committed_offset[CALLS] = 5
    assert acknowledge(consumer, CALLS, [3, 4, 5, 6, 6]) == 2
    assert consumer._acked[CALLS] == [5, 6]
    assert consumer._n_acked == 2


def test_commit_every_commits_after_the_chunk_that_reached_it():
    async def handler(tp: TP, records: list[Any]) -> None:
        return None

    consumer = run([{CALLS: [record(CALLS, o) for o in range(10)]}], handler, chunk=4,
                   commit_every=6)
    assert consumer.commits == [{CALLS: list(range(8))}]  # after chunks 0-3 and 4-7


def test_topics_it_does_not_take_go_through_fausts_callback_one_message_at_a_time():
    applied: list[int] = []

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    consumer = run([{CHANGELOG: [record(CHANGELOG, o) for o in range(3)],
                     CALLS: [record(CALLS, 7)]}], handler)
    assert consumer.delivered == [0, 1, 2]
    assert applied == [7]
    assert not consumer._acked[CHANGELOG]  # Faust's streams ack their own messages


def test_an_exception_escaping_the_handler_stops_the_loop_without_acknowledging():
    async def handler(tp: TP, records: list[Any]) -> None:
        raise ValueError("engine bug outside the per-event guard")

    with pytest.raises(ValueError):
        run([{CALLS: [record(CALLS, 0)]}], handler)


def test_a_consumer_without_the_internals_it_needs_is_refused_at_start():
    app = FakeApp()
    app.consumer = SimpleNamespace()
    with pytest.raises(RuntimeError, match="faust's Consumer changed"):
        install_inline_drain(app, lambda topic: True, lambda tp, records: None)


def test_every_partitions_hole_read_again_is_logged(caplog):
    """The worker's log filter collapses lines that differ only in numbers (streams.logfilter):
    a hole read again in one partition stood for those of every partition of its topic. The
    line is one of ccpulse's own, which always pass."""
    calls_1 = TP(CALLS.topic, 1)

    async def handler(tp: TP, records: list[Any]) -> None:
        pass

    with caplog.at_level(logging.INFO, logger="ccpulse.worker"):
        run([{CALLS: [record(CALLS, o) for o in (0, 1)],
              calls_1: [record(calls_1, o) for o in (0, 1)]},
             {CALLS: [record(CALLS, 5)], calls_1: [record(calls_1, 7)]},
             {CALLS: [record(CALLS, o) for o in range(2, 6)],
              calls_1: [record(calls_1, o) for o in range(2, 8)]}], handler)
    lines = [r for r in caplog.records if "read again" in r.getMessage()]
    assert [r.getMessage() for r in lines] == [
        "ccpulse worker: p.cc.calls-0: fetched from offset 5, the next to apply is 2: "
        "read again from there",
        "ccpulse worker: p.cc.calls-1: fetched from offset 7, the next to apply is 2: "
        "read again from there"]
    collapse = CollapseRepeats()
    assert all(collapse.filter(r) for r in lines)


class Log(FakeConsumer):
    """A partition's log 0..``end``-1 fetched ``size`` records at a time from a position that
    only fetches and seeks that succeed move (as aiokafka's); the first ``fail_seeks`` seeks
    raise as aiokafka's does for a partition not assigned, moving nothing."""

    def __init__(self, app: FakeApp, end: int, position: int, size: int,
                 fail_seeks: int = 0) -> None:
        super().__init__(app, [])
        self.end, self.position, self.size, self.fail_seeks = end, position, size, fail_seeks
        self.rounds = 0

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        self.rounds += 1
        if self.position >= self.end or self.rounds > 20:
            self._stopped.on = True
            return {}, set()
        batch = [record(CALLS, o)
                 for o in range(self.position, min(self.end, self.position + self.size))]
        self.position = batch[-1].offset + 1
        return {CALLS: batch}, {CALLS}

    async def seek(self, tp: TP, offset: int) -> None:
        if self.fail_seeks:
            self.fail_seeks -= 1
            raise RuntimeError("No current assignment for partition")
        self.position = offset
        await super().seek(tp, offset)


def test_a_refused_chunk_whose_seek_back_fails_is_read_again_from_its_first_offset():
    """Commit 26 (read offset 26, the next to read). The chunk 26-27 is refused outside a
    rebalance and the seek back to 26 fails: the read offset is what the seek would have set
    (26), not the batch's last offset read (27), so the hole before the next fetch (28) is
    read again from 26 (a reviewer's case: 26 was never applied, and Faust's commit would
    have passed it)."""
    applied: list[int] = []
    refusals = [False]

    async def handler(tp: TP, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    async def prepare(tp: TP) -> bool:
        return refusals.pop() if refusals else True

    app = FakeApp()
    consumer = app.consumer = Log(app, end=30, position=26, size=2, fail_seeks=1)
    consumer._committed_offset[CALLS] = consumer._read_offset[CALLS] = 26
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, prepare=prepare)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.gaps == []
    assert applied == [26, 27, 28, 29]
