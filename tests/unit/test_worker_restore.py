"""Changelog batches written to the local store during recovery (streams/worker/restore.py)
and through the inline fetch loop: Faust's own path gets only the last record, already applied."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from test_worker_inline_drain import CALLS, FakeApp, FakeConsumer, Flag, record

from streams.worker.inline import install_inline_drain
from streams.worker.restore import next_to_restore, restore_batch

ACTIVE = TP("app-calls-records-changelog", 0)
STANDBY = TP("app-calls-records-changelog", 1)
OTHER = TP("app-other-changelog", 0)


def recovering_app() -> Any:
    table = SimpleNamespace(data={})
    # as Faust's recovery leaves them once it has positioned its partitions (-1: nothing yet)
    recovery = SimpleNamespace(tp_to_table={ACTIVE: table, STANDBY: table},
                               active_tps={ACTIVE}, standby_tps={STANDBY},
                               active_offsets={ACTIVE: -1}, standby_offsets={STANDBY: -1},
                               in_recovery=True)
    return SimpleNamespace(tables=SimpleNamespace(recovery=recovery)), table


def changelog(tp: TP, offset: int, key: bytes, value: bytes | None) -> Any:
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset, key=key,
                           value=value, headers=[])


def test_a_batch_of_an_active_changelog_lands_in_the_store_and_advances_recovery():
    app, table = recovering_app()
    batch = [changelog(ACTIVE, 0, b"a", b"1"), changelog(ACTIVE, 1, b"b", b"2"),
             changelog(ACTIVE, 2, b"a", None)]
    assert restore_batch(app, ACTIVE, batch) is True
    assert table.data == {b"b": b"2"}  # the tombstone deleted a
    assert app.tables.recovery.active_offsets[ACTIVE] == 2


def test_a_recovered_batch_is_shown_to_the_snapshot_journal_before_it_is_written():
    """A changelog tail recovered into a store after its engine snapshot must be journaled
    (streams.worker.journal): the hook sees the keys while the store still holds their old
    values, with the offset the write brings it to."""
    app, table = recovering_app()
    table.data[b"a"] = b"old"
    seen: list[tuple[Any, ...]] = []

    def before(data: Any, partition: int, writes: list, offset: int | None) -> None:
        seen.append((partition, [k for k, _ in writes], offset, dict(data)))

    restore_batch(app, ACTIVE, [changelog(ACTIVE, 7, b"a", b"new"),
                                changelog(ACTIVE, 8, b"b", b"2")], before=before)
    assert seen == [(0, [b"a", b"b"], 8, {b"a": b"old"})]
    assert table.data == {b"a": b"new", b"b": b"2"}


def test_a_standby_batch_advances_the_standby_offsets():
    app, table = recovering_app()
    assert restore_batch(app, STANDBY, [changelog(STANDBY, 5, b"x", b"9")]) is True
    assert app.tables.recovery.standby_offsets[STANDBY] == 5
    assert table.data == {b"x": b"9"}


def test_records_recovery_already_has_are_not_written_again():
    app, table = recovering_app()
    app.tables.recovery.active_offsets[ACTIVE] = 1
    restore_batch(app, ACTIVE, [changelog(ACTIVE, 1, b"old", b"stale"),
                                changelog(ACTIVE, 2, b"new", b"v")])
    assert table.data == {b"new": b"v"}


def test_a_partition_recovery_does_not_read_is_left_to_faust():
    app, table = recovering_app()
    assert restore_batch(app, OTHER, [changelog(OTHER, 0, b"k", b"v")]) is False
    assert table.data == {}


def test_the_fetch_loop_gives_faust_only_the_last_record_of_a_restored_batch():
    fake_app = FakeApp()
    consumer = fake_app.consumer = FakeConsumer(
        fake_app, [{ACTIVE: [record(ACTIVE, o) for o in range(4)]}])
    recovery_app, table = recovering_app()
    install_inline_drain(fake_app, lambda topic: False, None,  # type: ignore[arg-type]
                         restore=lambda tp, records: restore_batch(recovery_app, tp, records))
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert sorted(table.data) == [b"k"]
    assert recovery_app.tables.recovery.active_offsets[ACTIVE] == 3
    assert consumer.delivered == [3]  # Faust sees offset 3, finds it applied, checks the end


def test_a_partition_the_recovery_has_not_positioned_yet_is_neither_written_nor_left_to_faust():
    """Between a rebalance's assignment and the recovery's offsets (Faust's _build_offsets), a
    batch fetched anyway is dropped: the recovery's own seek reads it again."""
    app, table = recovering_app()
    app.tables.recovery.standby_offsets[STANDBY] = None
    assert restore_batch(app, STANDBY, [changelog(STANDBY, 100, b"x", b"9")]) is None
    assert table.data == {}
    assert app.tables.recovery.standby_offsets[STANDBY] is None


def test_the_next_offset_to_restore_follows_what_the_recovery_applied():
    app, _ = recovering_app()
    assert next_to_restore(app, ACTIVE) == 0  # Faust's -1: nothing applied yet
    assert next_to_restore(app, STANDBY) == 0
    restore_batch(app, STANDBY, [changelog(STANDBY, o, b"k", b"v") for o in range(4)])
    assert next_to_restore(app, STANDBY) == 4
    assert next_to_restore(app, OTHER) is None  # a partition the recovery does not read
    app.tables.recovery.active_offsets[ACTIVE] = None  # a rebalance under way
    assert next_to_restore(app, ACTIVE) is None


def numbered(tp: TP, offsets: range) -> list[Any]:
    """Changelog records of ``tp``, one key per offset."""
    return [changelog(tp, o, b"k%d" % o, b"v%d" % o) for o in offsets]


def drain_restoring(consumer_class: type[FakeConsumer], fetches: list[dict[TP, list[Any]]],
                    prepare: Any = None, flow_active: bool = True,
                    ) -> tuple[FakeConsumer, Any, Any]:
    """Run the fetch loop over ``fetches`` with a recovering app's standby and active
    changelogs restored, as the worker wires it (streams.worker.app)."""
    fake_app = FakeApp()
    consumer = fake_app.consumer = consumer_class(fake_app, fetches)
    consumer.flow_active = flow_active
    recovery_app, table = recovering_app()
    applied: list[int] = []

    async def handler(tp: Any, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    install_inline_drain(fake_app, lambda topic: topic == CALLS.topic, handler,
                         restore=lambda tp, records: restore_batch(recovery_app, tp, records),
                         prepare=prepare,
                         restore_from=lambda tp: next_to_restore(recovery_app, tp))
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    return consumer, recovery_app, table


class PausedFirst(FakeConsumer):
    """The first fetch comes while its partitions are paused (not in Faust's live set of
    unpaused ones): aiokafka's ``fetched_records`` drains every partition when that set is
    empty, as it is while a recovery positions its standbys."""

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        first = not self.sought and not self.delivered and not getattr(self, "begun", False)
        self.begun = True
        records, active = await super()._wait_next_records(timeout)
        return records, (set() if first else active)


def test_a_standby_batch_skipped_while_paused_is_read_again_at_once():
    """The rolling restart that lost a tenth of a partition (2026-12-06): a standby's first
    batch came while the standby was still paused and was skipped; the next one began after
    it. Now the skipped batch is read again at once from the first record the store lacks."""
    consumer, recovery_app, table = drain_restoring(PausedFirst, [
        {STANDBY: numbered(STANDBY, range(0, 100))},  # skipped: paused
        {STANDBY: numbered(STANDBY, range(0, 114))},  # what the seek back fetches
    ])
    assert consumer.sought == [(STANDBY, 0)]
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(114))
    assert recovery_app.tables.recovery.standby_offsets[STANDBY] == 113
    assert consumer.delivered == [113]  # Faust sees only the last record of the batch applied


def test_a_batch_that_begins_past_the_hole_after_a_let_go_is_read_again():
    """The safety net after records let go: a batch that still begins past the first record
    the store lacks (aiokafka drops what it fetched before a seek, so only a seek that failed
    or compaction would give one) is not applied over the hole either: it is read again from
    there."""
    consumer, recovery_app, table = drain_restoring(PausedFirst, [
        {STANDBY: numbered(STANDBY, range(0, 100))},  # skipped: paused
        {STANDBY: numbered(STANDBY, range(100, 114))},  # still past the hole
        {STANDBY: numbered(STANDBY, range(0, 114))},
    ])
    assert consumer.sought == [(STANDBY, 0), (STANDBY, 0)]
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(114))
    assert recovery_app.tables.recovery.standby_offsets[STANDBY] == 113


def test_a_standby_batch_abandoned_with_the_rest_of_its_fetch_is_read_again():
    """A fetch holds a source batch and a standby changelog's batch; the source batch is
    refused outside a rebalance, which abandons the rest of the fetch: the standby's batch is
    read again from the first record the store lacks, and the store ends with every record
    and an offset that covers them all."""
    refused: list[Any] = []

    async def prepare(tp: Any) -> bool:
        if not refused:
            refused.append(tp)
            return False  # e.g. the engine not the worker's to build yet
        return True

    consumer, recovery_app, table = drain_restoring(FakeConsumer, [
        {CALLS: [record(CALLS, 0)], STANDBY: numbered(STANDBY, range(0, 100))},
        {STANDBY: numbered(STANDBY, range(100, 114))},  # still past the hole
        {STANDBY: numbered(STANDBY, range(0, 114))},
    ], prepare=prepare)
    assert refused == [CALLS]
    assert (STANDBY, 0) in consumer.sought
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(114))
    assert recovery_app.tables.recovery.standby_offsets[STANDBY] == 113


def test_a_batch_abandoned_twice_at_the_same_boundary_is_not_passed_over():
    """Two refusals outside a rebalance abandon the standby's batch twice, and the batch
    after each begins at the same offset: the same (generation, offset needed, first offset)
    comes back, made by the loop, not the broker. It is never taken for a real hole."""
    refusals = [False, False]

    async def prepare(tp: Any) -> bool:
        return refusals.pop(0) if refusals else True

    _, recovery_app, table = drain_restoring(FakeConsumer, [
        {CALLS: [record(CALLS, 0)], STANDBY: numbered(STANDBY, range(0, 100))},
        {STANDBY: numbered(STANDBY, range(100, 114))},
        {CALLS: [record(CALLS, 0)], STANDBY: numbered(STANDBY, range(0, 100))},
        {STANDBY: numbered(STANDBY, range(100, 114))},
        {STANDBY: numbered(STANDBY, range(0, 114))},
    ], prepare=prepare)
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(114))
    assert recovery_app.tables.recovery.standby_offsets[STANDBY] == 113


def test_a_source_batch_abandoned_twice_at_the_same_boundary_is_not_skipped():
    """The same for a source partition: a hole after a batch the loop abandoned is read again
    however often it comes back, and no event in it is recorded as a gap."""
    calls_1 = TP(CALLS.topic, 1)
    refusals = [False, False]

    async def prepare(tp: Any) -> bool:
        if tp == CALLS and refusals:
            return refusals.pop(0)
        return True

    applied: list[tuple[int, int]] = []

    async def handler(tp: Any, records: list[Any]) -> None:
        applied.extend((tp.partition, r.offset) for r in records)

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [
        {calls_1: [record(calls_1, o) for o in range(0, 3)]},
        {CALLS: [record(CALLS, 0)], calls_1: [record(calls_1, o) for o in range(3, 6)]},
        {calls_1: [record(calls_1, o) for o in range(6, 9)]},  # hole 3-5: read again
        {CALLS: [record(CALLS, 0)], calls_1: [record(calls_1, o) for o in range(3, 6)]},
        {calls_1: [record(calls_1, o) for o in range(6, 9)]},  # the same hole: again
        {calls_1: [record(calls_1, o) for o in range(3, 9)]},
    ])
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, prepare=prepare)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert sorted(o for p, o in applied if p == 1) == list(range(9))
    assert consumer.gaps == []


class SameHoleAgain(PausedFirst):
    """A broker whose changelog lacks offsets 0-4 (compacted): a seek fetches the batch that
    follows them again."""

    async def seek(self, tp: TP, offset: int) -> None:
        await super().seek(tp, offset)
        self.fetches.insert(0, {tp: numbered(tp, range(5, 9))})


def test_a_changelog_hole_that_comes_back_when_read_again_is_compacted_and_passed_over(caplog):
    with caplog.at_level(logging.INFO, logger="ccpulse.worker"):
        consumer, recovery_app, table = drain_restoring(SameHoleAgain, [
            {ACTIVE: numbered(ACTIVE, range(5, 9))}])  # skipped: paused
    # read again after the skip, then the hole read again once, then passed over
    assert consumer.sought == [(ACTIVE, 0), (ACTIVE, 0)]
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(5, 9))
    assert recovery_app.tables.recovery.active_offsets[ACTIVE] == 8
    lines = [r.getMessage() for r in caplog.records]
    assert any("the next to restore is 0: read again from there" in line for line in lines)
    assert any("offsets 0 to 4 are absent when read again" in line for line in lines)


def test_a_changelog_hole_after_nothing_let_go_is_compactions_and_restored_at_once():
    """Reading on without having let records go, a hole before a changelog batch is records
    compaction removed (Kafka keeps a compacted batch's last offset, so fetches jump them):
    the batch is restored at once, with no seek back or second fetch."""
    consumer, recovery_app, table = drain_restoring(FakeConsumer, [
        {ACTIVE: numbered(ACTIVE, range(0, 3))},
        {ACTIVE: numbered(ACTIVE, range(7, 9))},
    ])
    assert consumer.sought == []
    assert sorted(table.data) == sorted(b"k%d" % o for o in [0, 1, 2, 7, 8])
    assert recovery_app.tables.recovery.active_offsets[ACTIVE] == 8


def test_a_batch_the_recovery_has_not_positioned_is_not_given_to_faust():
    fake_app = FakeApp()
    consumer = fake_app.consumer = FakeConsumer(
        fake_app, [{STANDBY: numbered(STANDBY, range(0, 5))}])
    recovery_app, table = recovering_app()
    recovery_app.tables.recovery.standby_offsets[STANDBY] = None
    install_inline_drain(fake_app, lambda topic: topic == CALLS.topic, None,  # type: ignore[arg-type]
                         restore=lambda tp, records: restore_batch(recovery_app, tp, records),
                         restore_from=lambda tp: next_to_restore(recovery_app, tp))
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.delivered == []
    assert consumer.sought == []  # the recovery's own seek reads it
    assert table.data == {}


def test_an_active_changelog_read_to_its_end_is_not_sought_back():
    """After the active recovery, the worker writes its active changelogs itself and the
    recovery's offsets for them stay where the reading ended: a batch of the worker's own
    writes skipped while paused is not read again from there."""
    fake_app = FakeApp()
    consumer = fake_app.consumer = PausedFirst(fake_app, [{ACTIVE: numbered(ACTIVE, range(5))}])
    recovery_app, _ = recovering_app()
    recovery_app.tables.recovery.in_recovery = False
    install_inline_drain(fake_app, lambda topic: topic == CALLS.topic, None,  # type: ignore[arg-type]
                         restore=lambda tp, records: restore_batch(recovery_app, tp, records),
                         restore_from=lambda tp: next_to_restore(recovery_app, tp))
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.sought == []
    assert next_to_restore(recovery_app, ACTIVE) is None
    assert next_to_restore(recovery_app, STANDBY) == 0


def test_a_hole_read_again_before_a_rebalance_is_read_again_after_it():
    """The same hole in a later consumer generation is not yet known to be a real one (the
    batch read again may have been abandoned at the rebalance): it is read again once more."""

    class Rebalanced(PausedFirst):
        async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
            records, active = await super()._wait_next_records(timeout)
            if len(self.sought) >= 2:
                self.app.consumer_generation_id = 2
            return records, active

    consumer, _, table = drain_restoring(Rebalanced, [
        {STANDBY: numbered(STANDBY, range(0, 3))},  # skipped: paused
        {STANDBY: numbered(STANDBY, range(3, 6))},  # still past the hole
        {STANDBY: numbered(STANDBY, range(3, 6))},  # next generation: the same hole
        {STANDBY: numbered(STANDBY, range(0, 6))},
    ])
    assert consumer.sought == [(STANDBY, 0), (STANDBY, 0), (STANDBY, 0)]
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(6))


def test_a_source_hole_read_again_before_a_rebalance_is_read_again_after_it():
    class Rebalanced(FakeConsumer):
        async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
            records, active = await super()._wait_next_records(timeout)
            if self.sought:
                self.app.consumer_generation_id = 2
            return records, active

    applied: list[int] = []

    async def handler(tp: Any, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = Rebalanced(app, [
        {CALLS: [record(CALLS, o) for o in range(3)]},
        {CALLS: [record(CALLS, o) for o in range(5, 8)]},  # hole 3-4: read again (gen 1)
        {CALLS: [record(CALLS, o) for o in range(5, 8)]},  # gen 2: the same hole, again
        {CALLS: [record(CALLS, o) for o in range(3, 8)]},
    ])
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert applied == list(range(8))
    assert consumer.sought == [(CALLS, 3), (CALLS, 3)]


def test_a_standby_batch_fetched_while_the_flow_is_stopped_is_read_again():
    """Records fetched while the flow is stopped (a rebalance) are dropped, and Faust's seek
    back to the committed offsets moves only the source partitions: a changelog being
    restored is sought back to the first record its store lacks."""

    class Stopped(FakeConsumer):
        async def perform_seek(self) -> None:
            self.seeks += 1
            self.flow_active = True  # the rebalance completes

    consumer, recovery_app, table = drain_restoring(Stopped, [
        {STANDBY: numbered(STANDBY, range(0, 100))},  # dropped: the flow is stopped
        {STANDBY: numbered(STANDBY, range(0, 114))},  # what the seek back fetches
    ], flow_active=False)
    assert consumer.seeks == 1
    assert consumer.sought == [(STANDBY, 0)]
    assert sorted(table.data) == sorted(b"k%d" % o for o in range(114))
    assert recovery_app.tables.recovery.standby_offsets[STANDBY] == 113


def restoring_standby(consumer_class: type[FakeConsumer], fetches: list[dict[TP, list[Any]]],
                      standby_offset: int) -> tuple[FakeConsumer, Any, Any]:
    """The fetch loop over ``fetches`` with a standby whose recovery has applied up to
    ``standby_offset``."""
    fake_app = FakeApp()
    consumer = fake_app.consumer = consumer_class(fake_app, fetches)
    recovery_app, table = recovering_app()
    recovery_app.tables.recovery.standby_offsets[STANDBY] = standby_offset
    install_inline_drain(fake_app, lambda topic: False, None,  # type: ignore[arg-type]
                         restore=lambda tp, records: restore_batch(recovery_app, tp, records),
                         restore_from=lambda tp: next_to_restore(recovery_app, tp))
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    return consumer, recovery_app, table


def test_records_let_go_are_read_again_from_the_next_the_store_needs(caplog):
    with caplog.at_level(logging.INFO, logger="ccpulse.worker"):
        consumer, _, _ = restoring_standby(PausedFirst, [
            {STANDBY: numbered(STANDBY, range(50, 100))},  # skipped: paused
            {STANDBY: numbered(STANDBY, range(50, 114))}], standby_offset=49)
    assert consumer.sought == [(STANDBY, 50)]
    assert any("changelog records fetched and not restored" in r.getMessage()
               and f"{STANDBY.topic}-{STANDBY.partition} from 50" in r.getMessage()
               for r in caplog.records)


def test_once_restored_after_a_let_go_a_compaction_hole_is_fetched_once():
    consumer, _, table = restoring_standby(PausedFirst, [
        {STANDBY: numbered(STANDBY, range(0, 3))},  # skipped: paused
        {STANDBY: numbered(STANDBY, range(0, 3))},  # restored after the seek back
        {STANDBY: numbered(STANDBY, range(7, 9))},  # a compaction hole: restored as it is
    ], standby_offset=-1)
    assert consumer.sought == [(STANDBY, 0)]
    assert sorted(table.data) == sorted(b"k%d" % o for o in [0, 1, 2, 7, 8])


class SeekFails(PausedFirst):
    async def seek(self, tp: TP, offset: int) -> None:
        raise RuntimeError("No current assignment for partition")  # aiokafka's, revoked


def test_a_seek_back_that_fails_does_not_stop_the_loop():
    _, recovery_app, _ = restoring_standby(SeekFails, [
        {STANDBY: numbered(STANDBY, range(0, 3))},  # skipped: paused
        {STANDBY: numbered(STANDBY, range(0, 3))}], standby_offset=-1)
    assert recovery_app.tables.recovery.standby_offsets[STANDBY] == 2


def test_an_active_changelog_after_its_recovery_is_not_written_over():
    """The worker writes its active changelogs itself once their recovery is over (its
    checkpoints, store first): a batch of them is neither restored over the store from the
    recovery's old offset nor given to Faust."""
    app, table = recovering_app()
    app.tables.recovery.in_recovery = False
    assert restore_batch(app, ACTIVE, [changelog(ACTIVE, 0, b"a", b"1")]) is None
    assert table.data == {}
