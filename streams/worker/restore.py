"""Changelog records applied to a table's local store a fetched batch at a time.

Faust recovers a table message by message: each changelog record is wrapped in an event,
queued, taken off the queue with a timeout and buffered before a write batch reaches RocksDB
(~4,000 records/s measured on 2 cores: a million-record table took minutes to recover on a new
node). :func:`restore_batch` writes a whole fetched batch of one changelog partition into the
partition's RocksDB database in one write batch, with the offset it covers, and advances
Faust's recovery offsets for it; the fetch loop (``streams.worker.inline``) then hands the
batch's last record to Faust's own path, which finds it already applied and only checks
whether recovery is complete — so Faust still decides when a table is recovered, when a
standby is up to date, and when the worker is ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.worker.checkpoint import BeforeWrite, write_local


def restore_batch(app: Any, tp: Any, records: Sequence[Any],
                  before: BeforeWrite | None = None) -> bool | None:
    """Apply ``records`` (one changelog partition, in offset order) to the local store of
    the table they belong to, if Faust's recovery is reading that partition (an active one
    being recovered, or a standby); ``before`` as for ``write_local`` (the snapshot journal
    keeps what the keys held). Returns True when applied; False, applying nothing, for
    anything else (a record Faust's recovery has not asked for goes its own way); None,
    applying nothing, for a partition the recovery reads but has not positioned yet (a
    rebalance under way: its own seek reads the records again), or an active one whose
    recovery is over (the worker's own writes, already in the store)."""
    recovery = app.tables.recovery
    table = recovery.tp_to_table.get(tp)
    offsets = _reading(recovery, tp)
    if table is None or offsets is False:
        return False
    if offsets is None:
        return None  # an active one read to its end: the worker writes it on itself
    seen = offsets.get(tp)
    if seen is None:
        return None
    fresh = [r for r in records if r.offset > seen]
    if fresh:
        write_local(table.data, tp.partition, [(r.key, r.value) for r in fresh],
                    offset=fresh[-1].offset, before=before)
        offsets[tp] = fresh[-1].offset
    return True


def next_to_restore(app: Any, tp: Any) -> int | None:
    """The next offset of changelog partition ``tp`` that Faust's recovery has not applied
    (its recovery offset, the last applied, plus one: 0 from Faust's -1 for none), or None when
    the recovery is not reading ``tp`` (a standby always is; an active partition while a
    recovery is under way, ``Recovery.in_recovery``: from its start, before Faust positions
    the actives, to the end of their reading) or has not set its offset yet (a rebalance
    under way).

    The fetch loop seeks a partition back to it when it lets go of fetched records of it
    unapplied, and reads a batch that then begins past it again from there
    (``streams.worker.inline``): applying such a batch would move the store's persisted
    offset past records the store never got, and every later recovery, reading on from that
    offset, would pass over them for good (a fault test's rolling restart: a standby's first
    fetched batch was skipped while paused, the next one applied, and the worker that took
    the partition over two restarts later built its engines without a tenth of the
    partition).
    """
    recovery = app.tables.recovery
    offsets = _reading(recovery, tp) if tp in recovery.tp_to_table else False
    if offsets is None or offsets is False:
        return None
    seen = offsets.get(tp)
    return None if seen is None else seen + 1


def _reading(recovery: Any, tp: Any) -> Any:
    """The recovery's offsets (last applied, per partition) that ``tp`` is read into: the
    standbys', or the actives' while a recovery is under way (``Recovery.in_recovery``);
    None for an active partition read to its end (the worker writes it on itself, its
    checkpoints, and the recovery's offset for it stays where the reading ended); False for
    a partition the recovery does not read."""
    if tp in recovery.active_tps:
        return recovery.active_offsets if recovery.in_recovery else None
    if tp in recovery.standby_tps:
        return recovery.standby_offsets
    return False
