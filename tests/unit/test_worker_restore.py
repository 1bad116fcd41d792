"""Changelog batches written to the local store during recovery (streams/worker/restore.py)
and through the inline fetch loop: Faust's own path gets only the last record, already applied."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP
from test_worker_inline_drain import FakeApp, FakeConsumer, Flag, record

from streams.worker.inline import install_inline_drain
from streams.worker.restore import restore_batch

ACTIVE = TP("app-calls-records-changelog", 0)
STANDBY = TP("app-calls-records-changelog", 1)
OTHER = TP("app-other-changelog", 0)


def recovering_app() -> Any:
    table = SimpleNamespace(data={})
    recovery = SimpleNamespace(tp_to_table={ACTIVE: table, STANDBY: table},
                               active_tps={ACTIVE}, standby_tps={STANDBY},
                               active_offsets={}, standby_offsets={})
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
