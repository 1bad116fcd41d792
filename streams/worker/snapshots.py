"""Engine snapshots: a worker restarts in seconds, whatever its history.

Rebuilding an engine from its records recomputes every record's KPI contributions (~100 µs a
record: minutes for a million). So a worker writes each engine's derived state
(``Engine.snapshot``: the ledger, the base, stream time, the prune index and the references
feedback watches; not the records, which are in the local store) to a file in its data
directory, with the changelog offset its local store then covers: when it stops cleanly or
hands a partition over in a rebalance, right after the checkpoint that wrote every dirty
record; and while it runs, at a checkpoint, when a partition has none yet or many of its
records changed since its last one (``WorkerState.checkpoint``). Every write to a store after
its snapshot is journaled (``streams.worker.journal``): the value each key had at the snapshot.

When the engine of that partition is next built, the snapshot is used if the config and the
core code are those it was written by (:func:`fingerprint`) and either the store still covers
exactly its offset (a clean stop) or its journal covers every write since (a crash, a changelog
tail recovered into the store): the engine is restored, then caught up with the records the
journal names (``Engine.catch_up``); every other record stays on disk until an event, a prune or
a reference needs it (``Engine.load_snapshot``). Otherwise the engine is rebuilt from the
records as before, and the files are removed. A snapshot never changes a value, only how long a
restart takes (``tests/unit/test_engine_snapshot.py``, ``tests/unit/test_worker_snapshots.py``,
``tests/integration/test_worker_restarts_with_local_state.py``).

Snapshots are Python pickles of the worker's own state, in its own data directory (the same
trust as the RocksDB files beside them); one from another release or config is ignored.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import orjson

import streams.core
from streams.core.config import Config
from streams.core.engine import Engine
from streams.errors import describe
from streams.worker.journal import Journal, Then
from streams.worker.status import status, status_warning

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
    return hashlib.sha256(repr(sorted(fingerprint_parts(config).items())).encode()).hexdigest()


def fingerprint_parts(config: Config) -> dict[str, str]:
    """:func:`fingerprint` part by part, so that a refused snapshot can say what changed: the
    release (the pure core's code), and each settings section the engine reads."""
    def digest(value: object) -> str:
        return hashlib.sha256(repr(value).encode()).hexdigest()
    return {"release": _core_digest(), "[defaults]": digest(config.defaults),
            "[queues.*]": digest(config.queues), "[limits]": digest(config.limits),
            "[customers]": digest(config.customers),
            "partitions": digest(config.deployment.partitions)}


def _what_changed(saved: dict[str, Any], now: dict[str, str]) -> str:
    """Why a snapshot's fingerprint differs, in words."""
    parts = saved.get("fingerprint_parts")
    if not isinstance(parts, dict) or parts.get("release") != now["release"]:
        return "written by another release of ccpulse"
    changed = [name for name, value in now.items() if parts.get(name) != value]
    return "written with other settings: " + ", ".join(changed or ["unknown"])


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


class Captured(NamedTuple):
    """An engine's snapshot taken in memory (:meth:`Snapshots.capture`), to be written once the
    store holds what the engine held then."""

    engine: bytes  #: ``Engine.snapshot()``, pickled
    entities: int  #: how many entities the engine held
    seconds: float  #: how long taking it took


class Taken(NamedTuple):
    """A valid snapshot (:meth:`Snapshots.take`): the engine state, and the value each key
    written since had at the snapshot (empty when the store is exactly as it was then)."""

    state: dict[str, Any]
    changed: dict[bytes, Then]


class Snapshots:
    """The snapshot files of one worker, ``<dir>/<topic>-<partition>.snapshot``, and the
    journal of each (``.journal``, streams.worker.journal), open from the start: the
    changelog tail Faust recovers into a store before its engine is built is journaled too."""

    #: A journal with more keys than this share of its snapshot's entities (and at least
    #: :data:`MIN_CATCH_UP_LIMIT`) is not caught up: the records are rebuilt instead, which
    #: is then about as fast.
    CATCH_UP_SHARE = 0.4
    MIN_CATCH_UP_LIMIT = 50_000

    @classmethod
    def catch_up_limit(cls, entities: int) -> float:
        """How many changed records a snapshot of ``entities`` records is caught up with at
        most (more: a rebuild is about as fast)."""
        return max(cls.MIN_CATCH_UP_LIMIT, cls.CATCH_UP_SHARE * entities)

    def __init__(self, directory: Path, config: Config) -> None:
        self.directory = directory
        self.fingerprint = fingerprint(config)
        self.fingerprint_parts = fingerprint_parts(config)
        self.journals: dict[TP, Journal] = {}
        #: Why each snapshot found unusable since the last :meth:`report` was not used.
        self.refused: list[tuple[TP, str]] = []
        for path in sorted(directory.glob("*.snapshot")) if directory.is_dir() else []:
            tp = _tp_of(path)
            if tp is not None:
                self._open_journal(tp)
        for path in sorted(directory.glob("*.journal")) if directory.is_dir() else []:
            if not path.with_suffix(".snapshot").exists():
                path.unlink(missing_ok=True)  # of a snapshot removed before a crash

    def path(self, tp: TP) -> Path:
        return self.directory / f"{tp[0]}-{tp[1]}.snapshot"

    def journal_path(self, tp: TP) -> Path:
        return self.directory / f"{tp[0]}-{tp[1]}.journal"

    # ------------------------------------------------------------------ writing
    @staticmethod
    def capture(engine: Engine) -> Captured:
        """``engine``'s snapshot as of now (pickled, so later events do not change it)."""
        started = time.monotonic()
        body = pickle.dumps(engine.snapshot(), protocol=pickle.HIGHEST_PROTOCOL)
        return Captured(body, engine.entity_count, time.monotonic() - started)

    def write(self, tp: TP, engine: Engine, offset: int) -> int:
        """Write ``engine``'s snapshot, valid while the local store covers ``offset``;
        atomic (a temporary file renamed). Returns its size in bytes."""
        return self.write_captured(tp, self.capture(engine), offset)

    def write_captured(self, tp: TP, captured: Captured, offset: int) -> int:
        """Write a snapshot taken by :meth:`capture` when the engine held exactly what the
        local store holds at changelog ``offset``, and start its journal: every write to the
        store after this one is journaled against it. Returns the file's size in bytes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        token = os.urandom(16)
        body = pickle.dumps({"fingerprint": self.fingerprint,
                             "fingerprint_parts": self.fingerprint_parts, "offset": offset,
                             "token": token, "entities": captured.entities,
                             "engine": captured.engine}, protocol=pickle.HIGHEST_PROTOCOL)
        path = self.path(tp)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        # The snapshot first: a crash before the journal is replaced leaves a snapshot whose
        # journal has another token, used only if the store is still at its offset.
        os.replace(tmp, path)
        self._close_journal(tp)
        self.journals[tp] = Journal.start(self.journal_path(tp), token, offset,
                                          captured.entities)
        return len(body)

    def before_write(self, tp: TP, read: Callable[[bytes], Then], keys: Iterable[bytes],
                     offset: int | None) -> None:
        """About to write ``keys`` to ``tp``'s local store (bringing it to changelog
        ``offset``): journal their values now, if ``tp`` has a snapshot."""
        journal = self.journals.get(tp)
        if journal is None:
            return
        journal.record(read, keys, offset)
        if len(journal.keys) > self.catch_up_limit(journal.entities):
            # a rebuild would be about as fast as catching up: stop journaling (a partition
            # long on another worker, its changelog read in by a standby, say)
            status(f"snapshot of {tp[0]}-{tp[1]} dropped: {len(journal.keys):,} of its records "
                   "changed since it was taken")
            self.discard(tp)

    def journal_size(self, tp: TP) -> int | None:
        """How many keys of ``tp`` were written since its snapshot; None: it has none."""
        journal = self.journals.get(tp)
        return None if journal is None else len(journal.keys)

    # ------------------------------------------------------------------ reading
    def take(self, tp: TP, offset: int | None) -> Taken | None:
        """The snapshot of ``tp``, if it is valid for a local store covering changelog
        ``offset``: written by this core code and engine settings, and either the store is
        still at its offset, or its journal covers every write since. An invalid snapshot is
        removed with its journal, and why is kept for :meth:`report`; a valid one is kept, so
        a build abandoned in a rebalance can use it again."""
        path = self.path(tp)
        if not path.exists():
            return None
        saved, damage = self._load(path)
        journal = self.journals.get(tp)
        why = None
        if not isinstance(saved, dict) or "engine" not in saved:
            why = f"its file is damaged: {damage or 'not a snapshot'}"
        elif saved.get("fingerprint") != self.fingerprint or "token" not in saved:
            why = _what_changed(saved, self.fingerprint_parts)
        elif offset is None or offset < saved["offset"]:
            why = (f"the local store is older than it: changelog offset {offset}, the "
                   f"snapshot {saved['offset']}")
        elif offset != saved["offset"] and (journal is None or journal.token != saved["token"]
                                            or offset > journal.covered):
            covered = journal.covered if journal is not None else saved["offset"]
            why = (f"its journal is torn, damaged or missing: it covers the local store up to "
                   f"changelog offset {covered}, the store is at {offset}")
        elif offset != saved["offset"] and len(journal.keys) > self.catch_up_limit(  # type: ignore[union-attr]
                saved["entities"]):
            why = "too many records changed since it was taken: a rebuild is as fast"
        if why is not None:
            self.refused.append((tp, why))
            self.discard(tp)
            return None
        assert isinstance(saved, dict)
        if offset == saved["offset"]:  # nothing written since: a fresh journal
            if journal is None or journal.token != saved["token"] or journal.keys:
                self._close_journal(tp)
                self.journals[tp] = Journal.start(self.journal_path(tp), saved["token"],
                                                  offset, saved["entities"])
            changed: dict[bytes, Then] = {}
        else:
            changed = journal.changed()  # type: ignore[union-attr]
        state: dict[str, Any] = pickle.loads(saved["engine"])
        return Taken(state, changed)

    def report(self) -> None:
        """Say on standard output, one line per reason, which snapshots were not used since
        the last report and why (their engines are rebuilt from their records)."""
        by_reason: dict[str, list[str]] = {}
        for tp, why in self.refused:
            by_reason.setdefault(why, []).append(f"{tp[0]}-{tp[1]}")
        self.refused.clear()
        for why, tps in by_reason.items():
            status_warning(f"{len(tps)} snapshot{'s' if len(tps) != 1 else ''} not used, "
                           f"rebuilding from the records ({why}): {', '.join(tps)}")

    def discard(self, tp: TP) -> None:
        """Remove ``tp``'s snapshot and journal (no longer valid, or unusable)."""
        self._close_journal(tp)
        self.path(tp).unlink(missing_ok=True)
        self.journal_path(tp).unlink(missing_ok=True)

    @staticmethod
    def _load(path: Path) -> tuple[Any, str | None]:
        """The snapshot file's contents, or None and what is wrong with it."""
        try:
            with open(path, "rb") as src:
                return pickle.load(src), None
        except Exception as exc:  # a torn or foreign file: rebuild from the records
            return None, describe(exc)

    def _open_journal(self, tp: TP) -> None:
        """Open the journal of ``tp``'s snapshot, or start one if it has none (a snapshot
        written with no journal yet: the next take checks the store is still at it)."""
        path = self.journal_path(tp)
        try:
            self.journals[tp] = Journal.open(path)
            return
        except (OSError, ValueError):
            pass
        saved, _ = self._load(self.path(tp))
        if isinstance(saved, dict) and "token" in saved:
            self.journals[tp] = Journal.start(path, saved["token"], saved["offset"],
                                              saved["entities"])

    def _close_journal(self, tp: TP) -> None:
        journal = self.journals.pop(tp, None)
        if journal is not None:
            journal.close()


def _tp_of(path: Path) -> TP | None:
    topic, _, partition = path.stem.rpartition("-")
    return (topic, int(partition)) if topic and partition.isdigit() else None
