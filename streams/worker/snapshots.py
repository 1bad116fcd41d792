"""Engine snapshots: a worker stopped cleanly restarts in seconds, whatever its history.

Rebuilding an engine from its records recomputes every record's KPI contributions (~100 µs a
record: minutes for a million). So when a worker stops cleanly, or hands a partition over in a
rebalance, right after the checkpoint that wrote every dirty record it writes each engine's
derived state (``Engine.snapshot``: the ledger, the base, stream time, the prune index and the
references feedback watches; not the records, which are in the local store) to a file in its
data directory, with the changelog offset its local store then covers.

When the engine of that partition is next built, the snapshot is used only if the local store
still covers exactly that offset (nothing was written to it since: no changelog tail was
recovered, no later checkpoint), and the config and the core code are those it was written by
(:func:`fingerprint`). Then every record stays on disk until an event, a prune or a reference
needs it (``Engine.load_snapshot``). Otherwise, or after a crash, the engine is rebuilt from the
records as before, and the file is removed. A snapshot never changes a value, only how long a
restart takes (``tests/unit/test_engine_snapshot.py``,
``tests/integration/test_worker_restarts_with_local_state.py``).

Snapshots are Python pickles of the worker's own state, in its own data directory (the same
trust as the RocksDB files beside them); one from another release or config is ignored.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import orjson

import streams.core
from streams.core.config import Config
from streams.core.engine import Engine

TP = tuple[str, int]


@cache
def _core_digest() -> str:
    """A digest of the pure core's source: its contributions and ledger define a snapshot."""
    digest = hashlib.sha256()
    root = Path(streams.core.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(config: Config) -> str:
    """What a snapshot is valid for: this core code and the settings the engine reads (not
    the web, health, wallboard or connector settings, nor the ports)."""
    engine_settings = (config.defaults, config.queues, config.limits, config.customers,
                       config.deployment.partitions)
    return hashlib.sha256(f"{_core_digest()}\n{engine_settings!r}".encode()).hexdigest()


def local_offset(data: Any, partition: int) -> int | None:
    """The changelog offset a table partition's local RocksDB store covers, if any."""
    if not hasattr(data, "_db_for_partition"):
        return None
    raw = data._db_for_partition(partition).get(data.offset_key)
    return None if raw is None else int(raw)


def cold_source(data: Any, partition: int, table_key: Callable[[str, int], bytes],
                ) -> Callable[[str], dict[str, Any] | None]:
    """A reader of one partition's persisted records, for ``Engine.load_snapshot``."""
    def read(key: str) -> dict[str, Any] | None:
        raw = data._db_for_partition(partition).get(table_key(key, partition))
        return None if raw is None else orjson.loads(raw)
    return read


class Snapshots:
    """The snapshot files of one worker: ``<dir>/<topic>-<partition>.snapshot``."""

    def __init__(self, directory: Path, config: Config) -> None:
        self.directory = directory
        self.fingerprint = fingerprint(config)

    def path(self, tp: TP) -> Path:
        return self.directory / f"{tp[0]}-{tp[1]}.snapshot"

    def write(self, tp: TP, engine: Engine, offset: int) -> int:
        """Write ``engine``'s snapshot, valid while the local store covers ``offset``;
        atomic (a temporary file renamed). Returns its size in bytes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        body = pickle.dumps({"fingerprint": self.fingerprint, "offset": offset,
                             "engine": engine.snapshot()}, protocol=pickle.HIGHEST_PROTOCOL)
        path = self.path(tp)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        return len(body)

    def take(self, tp: TP, offset: int | None) -> dict[str, Any] | None:
        """The engine state of ``tp``'s snapshot if it is valid for a local store covering
        ``offset``. A snapshot found invalid is removed; a valid one is kept, so a build
        abandoned in a rebalance can use it again (it stops being valid at the first
        checkpoint after it: the store's offset moves on)."""
        path = self.path(tp)
        if not path.exists():
            return None
        try:
            with open(path, "rb") as src:
                saved = pickle.load(src)
        except Exception as exc:  # a torn or foreign file: rebuild from the records
            print(f"ccpulse worker: snapshot {path} unreadable ({exc}): rebuilding from the "
                  "records", flush=True)
            saved = None
        why = None
        if not isinstance(saved, dict):
            why = "unreadable"
        elif saved.get("fingerprint") != self.fingerprint:
            why = "written by another release or with other engine settings"
        elif offset is None or saved.get("offset") != offset:
            why = (f"covers changelog offset {saved.get('offset')}, the local store "
                   f"{offset}")
        if why is not None:
            print(f"ccpulse worker: snapshot of {tp[0]}-{tp[1]} not used ({why}): rebuilding "
                  "from the records", flush=True)
            path.unlink(missing_ok=True)
            return None
        state: dict[str, Any] = saved["engine"]  # type: ignore[index]
        return state
