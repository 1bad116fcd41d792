"""Every worker's local table stores hold exactly what their changelogs hold.

A worker's RocksDB store of a table partition carries the changelog offset it covers (Faust's
persisted offset); a restart, a standby and a new owner all read the changelog on from there.
So each store must equal its changelog read from the start up to that offset — key for key,
value for value. A store that lacks records below its offset never gets them back (a recovery
reads on from the offset): the fault tests check this invariant directly, after the workers
have stopped, besides comparing the KPIs, which show such a hole only once the store's
partition is built into an engine.
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


def stores_unlike_their_changelogs(bootstrap: str, app_id: str,
                                   data_dirs: Iterable[Path]) -> list[str]:
    """One line per table store under ``data_dirs`` (``<dir>/*/tables/<table>-<p>.db``) that
    differs from its changelog (``<app_id>-<table>-changelog``) at the store's offset: how many
    keys it lacks, has too many, or holds with another value. Stores without an offset (never
    written) are left out."""
    stores = [(path, *path.name[:-len(".db")].rsplit("-", 1))
              for data_dir in data_dirs for path in sorted(data_dir.glob("*/tables/*.db"))]
    changelogs = asyncio.run(read_partitions(
        bootstrap, sorted({(f"{app_id}-{table}-changelog", int(p)) for _, table, p in stores})))
    problems = []
    for path, table, partition in stores:
        held = read_store(path)
        raw_offset = held.pop(OFFSET_KEY, None)
        if raw_offset is None:
            continue
        offset = int(raw_offset)
        want = changelog_at(changelogs[(f"{app_id}-{table}-changelog", int(partition))], offset)
        lacks = want.keys() - held.keys()
        extra = held.keys() - want.keys()
        other = [k for k in want.keys() & held.keys() if want[k] != held[k]]
        if lacks or extra or other:
            problems.append(f"{path.relative_to(path.parents[3])} at offset {offset}: "
                            f"{len(lacks)} records missing, {len(extra)} too many, "
                            f"{len(other)} with another value (e.g. "
                            f"{sorted(lacks or extra or other)[0]!r})")
    return problems
