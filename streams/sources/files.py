"""Reading line-oriented inputs with a resumable position, and following them like ``tail -F``.

:func:`read_lines` yields one :class:`~streams.sources.base.Record` per line (its text without
the line ending, and the byte offset after it). With ``follow`` it never ends: at the end of
the file it yields :data:`~streams.sources.base.IDLE`, and when the path is replaced (log
rotation: a new inode) or truncated (``copytruncate``) it finishes the old file and goes on at
the start of the new one. A line without its final newline is not read until the newline
arrives (the writer may be half-way through it), except at the end of a file that is not
followed.

The position is ``{"path", "inode", "offset"}``: resuming on the same file (same inode, at
least ``offset`` bytes long) seeks there; a different or shorter file is read from its start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from streams.errors import CcpulseError
from streams.sources.base import IDLE, Record, _Idle

#: Bytes read per call.
CHUNK = 1 << 16


def _identity(stat: os.stat_result) -> int:
    return stat.st_ino


def start_offset(path: Path, position: Mapping[str, Any] | None) -> int:
    """Where to resume in ``path``: the saved offset when it is still the same file (same
    inode, at least that long), else 0."""
    if not position or position.get("path") != str(path):
        return 0
    try:
        stat = path.stat()
    except OSError:
        return 0
    offset = int(position.get("offset", 0))
    if position.get("inode") == _identity(stat) and stat.st_size >= offset:
        return offset
    return 0


def _open(path: Path, *, follow: bool) -> Any:
    try:
        return path.open("rb")
    except FileNotFoundError:
        if follow:
            return None
        raise CcpulseError(f"{str(path)!r} does not exist; check the path") from None
    except OSError as exc:
        raise CcpulseError(f"cannot read {str(path)!r}: {exc.strerror}") from None


def read_lines(paths: Sequence[str | os.PathLike[str]], position: Mapping[str, Any] | None,
               *, follow: bool = False, encoding: str = "utf-8") -> Iterator[Record | _Idle]:
    """The lines of ``paths`` in order, from ``position`` on; the last path is followed when
    ``follow`` (see the module docstring). A line that is not valid ``encoding`` is yielded
    with its undecodable bytes replaced (U+FFFD), for the mapper to reject with a reason."""
    files = [Path(p) for p in paths]
    if not files:
        return
    first = 0
    if position and position.get("path") in {str(p) for p in files}:
        first = [str(p) for p in files].index(position["path"])
    for index in range(first, len(files)):
        path = files[index]
        last = index == len(files) - 1
        start = start_offset(path, position) if index == first else 0
        yield from _read_one(path, start, follow=follow and last, encoding=encoding)


def _read_one(path: Path, offset: int, *, follow: bool,
              encoding: str) -> Iterator[Record | _Idle]:
    handle = _open(path, follow=follow)
    while handle is None:  # following a file that does not exist yet
        yield IDLE
        handle = _open(path, follow=True)
    inode = _identity(os.fstat(handle.fileno()))
    handle.seek(offset)
    line_no = _count_lines_before(path, offset) if offset else 0
    pending = b""
    try:
        while True:
            chunk = handle.read(CHUNK)
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    offset += len(raw) + 1
                    line_no += 1
                    yield Record(f"{path}:{line_no}",
                                 raw.rstrip(b"\r").decode(encoding, errors="replace"),
                                 {"path": str(path), "inode": inode, "offset": offset})
                continue
            if not follow:
                if pending:
                    offset += len(pending)
                    line_no += 1
                    yield Record(f"{path}:{line_no}",
                                 pending.rstrip(b"\r").decode(encoding, errors="replace"),
                                 {"path": str(path), "inode": inode, "offset": offset})
                return
            if _replaced(path, inode, offset + len(pending)):
                # Rotated or truncated: what is left of the old file was read; a partial last
                # line of the old file is complete now (nobody writes to it any more).
                if pending and _rotated(path, inode):
                    offset += len(pending)
                    line_no += 1
                    yield Record(f"{path}:{line_no}",
                                 pending.rstrip(b"\r").decode(encoding, errors="replace"),
                                 {"path": str(path), "inode": inode, "offset": offset})
                handle.close()
                handle = _open(path, follow=True)
                while handle is None:
                    yield IDLE
                    handle = _open(path, follow=True)
                inode = _identity(os.fstat(handle.fileno()))
                offset, line_no, pending = 0, 0, b""
                continue
            yield IDLE
    finally:
        if handle is not None:
            handle.close()


def _replaced(path: Path, inode: int, read_to: int) -> bool:
    """The path now names another file, or the file was truncated below what was read."""
    try:
        stat = path.stat()
    except OSError:
        return False  # mid-rotation: the new file is not there yet; keep the old one
    return _identity(stat) != inode or stat.st_size < read_to


def _rotated(path: Path, inode: int) -> bool:
    """True when ``path`` is another file now (a rotation), False when it was truncated."""
    try:
        return _identity(path.stat()) != inode
    except OSError:
        return True


def _count_lines_before(path: Path, offset: int) -> int:
    """Line number of the line at ``offset`` less one (for ``FILE:LINE`` after a resume)."""
    count = 0
    with path.open("rb") as f:
        remaining = offset
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count
