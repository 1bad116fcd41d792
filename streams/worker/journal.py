"""Snapshot journals: what a partition's local store held at its engine snapshot, for every
key written since, so a worker that crashed restarts from its last snapshot in seconds.

An engine snapshot (``streams.worker.snapshots``) is of the local store at one changelog
offset. After it, every write to that partition's store — a checkpoint's, or a changelog
tail recovered into it — first appends to the partition's journal the value each key had at
the snapshot (its first write since; ``None``: no record), then the offset the write brings
the store to. After a crash, the snapshot plus the journal say exactly which records changed
and what they were, and ``Engine.catch_up`` swaps only those (instead of recomputing every
record of the partition).

The file, ``<topic>-<partition>.journal`` beside the snapshot: a header (magic, the token of
the snapshot it belongs to, the snapshot's offset and number of records), then one batch per
write: the entries ``(key, value then)``, the offset covered after the write, and a CRC-32 of
the batch. A batch is appended with one ``write``, before the store's own write, so a process
killed at any instant leaves a journal covering at least the store; after a machine crash a
torn or lost tail shows as a covered offset behind the store's, and the snapshot is not
used. Values are the store's own bytes: no decoding on the write path. Only the keys are kept
in memory; a journal whose keys pass the catch-up limit (``Snapshots.catch_up_limit``) is
dropped with its snapshot.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

MAGIC = b"CCJ1"
_HEADER = struct.Struct(">4s16sqq")  # magic, snapshot token and offset, its entities
_COUNT = struct.Struct(">I")  # entries in a batch
_ENTRY = struct.Struct(">Ii")  # key length, value length (-1: no record)
_TAIL = struct.Struct(">qI")  # offset covered after the write, CRC-32 of the batch before it
_NO_VALUE = -1

#: The value a key had at the snapshot: its stored bytes, or None (no record).
Then = bytes | None


class Journal:
    """The journal of one partition since its snapshot ``token`` (open for appending). Only
    the keys journaled are kept in memory; their values are read back from the file by
    :meth:`changed`."""

    def __init__(self, path: Path, token: bytes, offset: int, entities: int,
                 keys: set[bytes], covered: int) -> None:
        self.path = path
        self.token = token
        self.offset = offset  #: the snapshot's: the store's changelog offset when it was taken
        self.entities = entities  #: how many entities the snapshot's engine held
        self.covered = covered  #: the store's changelog offset after the last write journaled
        self.keys = keys  #: every key written since the snapshot
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

    @classmethod
    def start(cls, path: Path, token: bytes, offset: int, entities: int) -> Journal:
        """A new, empty journal for the snapshot ``token`` of ``entities`` records taken at
        ``offset``, replacing the file of an older one atomically."""
        tmp = path.with_suffix(".journal-new")
        with open(tmp, "wb") as out:
            out.write(_HEADER.pack(MAGIC, token, offset, entities))
        os.replace(tmp, path)
        return cls(path, token, offset, entities, set(), offset)

    @classmethod
    def open(cls, path: Path) -> Journal:
        """The journal in ``path``, its batches read back; a torn tail (a machine crash in
        the middle of a write) is cut off, so it covers the offset of its last whole batch.
        Raises ValueError for a file that is not a journal."""
        token, offset, entities, then, covered, end = _read(path)
        if end < path.stat().st_size:
            with open(path, "r+b") as out:
                out.truncate(end)
        return cls(path, token, offset, entities, set(then), covered)

    def changed(self) -> dict[bytes, Then]:
        """Each key written since the snapshot, with its value at the snapshot."""
        return _read(self.path)[3]

    def record(self, read: Callable[[bytes], Then], keys: Iterable[bytes],
               offset: int | None) -> None:
        """Before the store writes ``keys`` (bringing it to changelog ``offset``): append the
        value each key not yet journaled has now (``read``: the store's bytes or None)."""
        seen = self.keys
        entries = []
        for key in keys:
            if key not in seen:
                seen.add(key)
                entries.append((key, read(key)))
        parts = [_COUNT.pack(len(entries))]
        for key, value in entries:
            parts.append(_ENTRY.pack(len(key), _NO_VALUE if value is None else len(value)))
            parts.append(key)
            if value is not None:
                parts.append(value)
        body = b"".join(parts)
        covered = self.covered if offset is None else offset
        os.write(self._fd, body + _TAIL.pack(covered, zlib.crc32(body)))
        self.covered = covered

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _read(path: Path) -> tuple[bytes, int, int, dict[bytes, Then], int, int]:
    """A journal file's token, snapshot offset and entities, values at the snapshot, covered
    offset, and where its last whole batch ends. Raises ValueError for a file that is not a
    journal."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise ValueError(f"{path} is not a snapshot journal (too short)")
    magic, token, offset, entities = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"{path} is not a snapshot journal")
    then: dict[bytes, Then] = {}
    covered = offset
    pos = _HEADER.size
    while True:
        batch = _read_batch(data, pos)
        if batch is None:
            break
        pos, entries, covered = batch
        for key, value in entries:
            then.setdefault(key, value)
    return token, offset, entities, then, covered, pos


def _read_batch(data: bytes, pos: int) -> tuple[int, list[tuple[bytes, Then]], int] | None:
    """The batch at ``pos``: (position after it, its entries, offset covered); None at the end
    or where the rest is torn or damaged."""
    start = pos
    if pos + _COUNT.size > len(data):
        return None
    (count,) = _COUNT.unpack_from(data, pos)
    pos += _COUNT.size
    entries: list[tuple[bytes, Then]] = []
    for _ in range(count):
        if pos + _ENTRY.size > len(data):
            return None
        key_len, value_len = _ENTRY.unpack_from(data, pos)
        pos += _ENTRY.size
        end = pos + key_len + max(value_len, 0)
        if end > len(data):
            return None
        key = data[pos:pos + key_len]
        value = None if value_len == _NO_VALUE else data[pos + key_len:end]
        entries.append((key, value))
        pos = end
    if pos + _TAIL.size > len(data):
        return None
    covered, crc = _TAIL.unpack_from(data, pos)
    if zlib.crc32(data[start:pos]) != crc:
        return None
    return pos + _TAIL.size, entries, covered
