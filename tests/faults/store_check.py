"""Every worker's local table stores hold exactly what their changelogs hold.

A worker's RocksDB store of a table partition carries the changelog offset it covers (Faust's
persisted offset); a restart, a standby and a new owner all read the changelog on from there.
So each store must equal its changelog read from the start up to that offset — key for key,
value for value. A store that lacks records below its offset never gets them back (a recovery
reads on from the offset): the fault tests check this invariant directly, after the workers
have stopped, besides comparing the KPIs, which show such a hole only once the store's
partition is built into an engine. Once Kafka has compacted a changelog, a key's record up to
the offset may be gone because a later one superseded it: such keys are left out of the
comparison (the fault tests' changelogs are never compacted: their segments never roll).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import rocksdict
from kafka_reads import read_partitions

#: Faust's key of the persisted offset in each RocksDB store (``faust.stores.rocksdb``).
OFFSET_KEY = b"__faust\x00offset__"


def read_store(path: Path) -> dict[bytes, bytes]:
    """The keys and values of a stopped worker's RocksDB store (opened read-only)."""
    db = rocksdict.Rdict(str(path), options=rocksdict.Options(raw_mode=True),
                         access_type=rocksdict.AccessType.read_only())
    try:
        return dict(db.items())
    finally:
        db.close()


def changelog_at(records: Iterable[tuple[int, bytes | None, bytes | None]],
                 offset: int) -> dict[bytes, bytes]:
    """The table a changelog's records up to ``offset`` make (a None value deletes)."""
    state: dict[bytes, bytes] = {}
    for at, key, value in records:
        if at > offset or key is None:
            continue
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


def store_differences(held: dict[bytes, bytes],
                      records: list[tuple[int, bytes | None, bytes | None]], offset: int,
                      ) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """The keys a store ``held`` at changelog ``offset`` lacks, has too many, and holds with
    another value, against the changelog's ``records`` (offset order). When the offsets up to
    ``offset`` are not all there from 0 (a changelog's log starts at 0: it is compacted, never
    deleted), the changelog was compacted: a key with a record after ``offset`` may have lost
    the ones before, and is left out."""
    want = changelog_at(records, offset)
    compacted = [at for at, _, _ in records if at <= offset] != list(range(offset + 1))
    later = {key for at, key, _ in records if at > offset} if compacted else set()
    lacks = sorted(want.keys() - held.keys() - later)
    extra = sorted(held.keys() - want.keys() - later)
    other = sorted(k for k in want.keys() & held.keys() - later if want[k] != held[k])
    return lacks, extra, other


def stores_unlike_their_changelogs(bootstrap: str, app_id: str, data_dirs: Iterable[Path],
                                   ) -> tuple[int, list[str]]:
    """How many table stores under ``data_dirs`` (``<dir>/*/tables/<table>-<p>.db``) hold an
    offset, and one line for each store that differs from its changelog
    (``<app_id>-<table>-changelog``) at its offset — the keys it lacks, has too many, or holds
    with another value — or holds records without an offset. Stores never written (empty, no
    offset) are left out."""
    stores = [(path, *path.name[:-len(".db")].rsplit("-", 1))
              for data_dir in data_dirs for path in sorted(data_dir.glob("*/tables/*.db"))]
    changelogs = asyncio.run(read_partitions(
        bootstrap, sorted({(f"{app_id}-{table}-changelog", int(p)) for _, table, p in stores})))
    checked, problems = 0, []
    for path, table, partition in stores:
        where = path.relative_to(path.parents[3])
        held = read_store(path)
        raw_offset = held.pop(OFFSET_KEY, None)
        if raw_offset is None:
            if held:
                problems.append(f"{where}: {len(held)} records and no offset")
            continue
        checked += 1
        offset = int(raw_offset)
        lacks, extra, other = store_differences(
            held, changelogs[(f"{app_id}-{table}-changelog", int(partition))], offset)
        if lacks or extra or other:
            problems.append(f"{where} at offset {offset}: {len(lacks)} records missing, "
                            f"{len(extra)} too many, {len(other)} with another value (e.g. "
                            f"{(lacks or extra or other)[0]!r})")
    return checked, problems
