"""Reading an export for a mapping: CSV or JSON-lines rows with a resumable position.

Rows come from :func:`~streams.sources.files.read_lines`, so a file can be followed and a run
resumed at a byte offset. A CSV record may span lines (a quoted field with a newline): lines are
gathered until Python's ``csv`` module (strict) reads one whole record from them, and the
record's position is the one after its last line. Each file's first record is its header
(unless the mapping names the ``columns``); a run resumed inside a file reads the header again
from the file's start. The position is ``read_lines``'s (``path``, ``inode``, ``offset``) plus
``row``, the data rows of that file read so far (``{_row}`` goes on counting after a restart).

With ``[input] order_by`` the rows of every file are read first, then given to the mapper
sorted (stably) by that time; the position is then how many sorted rows were done, valid while
the files are unchanged (same inode, size and modification time).

``[input] delimiter = "auto"`` takes, for each file, the one of ``,``, tab, ``;`` and ``|``
that splits its first line into the most fields (a tie goes to the earlier of that list); a
first line that none splits is an error asking for the delimiter.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from streams.errors import CcpulseError
from streams.sources.base import IDLE, Record, _Idle
from streams.sources.files import read_lines, start_offset
from streams.sources.mapping import BadRow, Row
from streams.sources.mapping_spec import AUTO_DELIMITERS, InputSpec

#: Lines one CSV record may span before it is given up as an unmatched quote.
MAX_RECORD_LINES: Final = 10_000

Position = Mapping[str, Any] | None
Items = Iterator[Record | _Idle]


def read_rows(paths: Sequence[str], position: Position, inp: InputSpec, *,
              follow: bool = False) -> Items:
    """Every data row of ``paths`` from ``position`` on (the last path followed)."""
    first = 0
    names = [str(p) for p in paths]
    if position and position.get("path") in names:
        first = names.index(position["path"])
    for index in range(first, len(names)):
        path = names[index]
        last = index == len(names) - 1
        start = position if index == first else None
        if inp.format == "jsonl":
            yield from _jsonl(path, start, inp, follow=follow and last)
        else:
            yield from _csv(path, start, inp, follow=follow and last)


def read_header(path: str, inp: InputSpec) -> list[str] | None:
    """The column names of a CSV file (None: the file is empty). ``[input] columns`` when the
    mapping names them."""
    if inp.columns is not None:
        return list(inp.columns)
    for item in _records(path, None, inp, follow=False):
        if isinstance(item, tuple):
            cells, _, _ = item
            if isinstance(cells, list):
                return _header(cells)
            raise CcpulseError(f"cannot read the header of {path!r}: {cells.detail}")
    return None


def detect_delimiter(line: str, inp: InputSpec, where: str) -> str:
    """The delimiter of ``[input] delimiter = "auto"``: the candidate that splits ``line``
    (the first line of ``where``) into the most fields. Raises CcpulseError when none splits
    it."""
    best, most = "", 1
    for candidate in AUTO_DELIMITERS:
        try:
            cells = next(csv.reader([line], delimiter=candidate, quotechar=inp.quotechar), [])
        except csv.Error:
            continue
        if len(cells) > most:
            best, most = candidate, len(cells)
    if not best:
        shown = ", ".join("tab" if d == "\t" else repr(d) for d in AUTO_DELIMITERS)
        raise CcpulseError(f"cannot tell the delimiter of {where!r}: none of {shown} splits "
                           "its first line into more than one field; set [input] delimiter "
                           "in the mapping")
    return best


def _first_line(path: str, inp: InputSpec) -> str | None:
    """The first line of ``path`` (None: the file is empty or absent)."""
    try:
        with open(path, encoding=inp.encoding, errors="replace", newline="") as f:
            line = f.readline()
    except FileNotFoundError:
        return None
    line = line.removeprefix("\ufeff").rstrip("\r\n")
    return line if line.strip() else None


def _header(cells: list[str]) -> list[str]:
    if cells:
        cells = [cells[0].removeprefix("\ufeff"), *cells[1:]]
    return [c.strip() for c in cells]


def _records(path: str, position: Position, inp: InputSpec, *, follow: bool
             ) -> Iterator[tuple[list[str] | BadRow, int, Mapping[str, Any]] | _Idle]:
    """CSV records: (cells or a BadRow, first line number, position after it), and IDLE."""
    auto = inp.delimiter == "auto"
    delimiter = inp.delimiter
    if auto:   # from the file's first line; an empty file's when its first line comes
        first = _first_line(path, inp)
        delimiter = detect_delimiter(first, inp, path) if first is not None else ""
    dialect = {"delimiter": delimiter, "quotechar": inp.quotechar, "strict": True}
    lines: list[str] = []
    first_line = 0
    inode = None
    for item in read_lines([path], position, follow=follow, encoding=inp.encoding):
        if isinstance(item, _Idle):
            yield IDLE
            continue
        if item.position.get("inode") != inode:  # a new file (start, or rotation)
            if inode is not None:
                yield ([], -1, item.position)  # marks a new file: its header comes next
                if auto:
                    dialect["delimiter"] = ""
            inode = item.position.get("inode")
            lines = []
        if not lines:
            first_line = int(item.where.rsplit(":", 1)[1])
            if not dialect["delimiter"]:
                text = item.data.removeprefix("\ufeff")
                if not text.strip():   # blank lines before the first: no record
                    continue
                dialect["delimiter"] = detect_delimiter(text, inp, path)
        lines.append(item.data)
        try:
            cells = list(csv.reader(io.StringIO("\n".join(lines) + "\n"), **dialect))
        except csv.Error as exc:
            if "unexpected end of data" in str(exc) and len(lines) < MAX_RECORD_LINES:
                continue
            span = f"{first_line}" if len(lines) == 1 else \
                f"{first_line}-{first_line + len(lines) - 1}"
            bad = BadRow("bad_csv", f"{exc} (line {span})")
            lines = []
            yield (bad, first_line, item.position)
            continue
        lines = []
        if cells and cells[0]:
            yield (cells[0], first_line, item.position)
    if lines:
        yield (BadRow("bad_csv", f"a quoted field is not closed by the end of the file "
                                 f"(line {first_line})"), first_line, {})


def _csv(path: str, position: Position, inp: InputSpec, *, follow: bool) -> Items:
    start = start_offset(Path(path), position)
    header = list(inp.columns) if inp.columns is not None else None
    row = 0
    if start and position is not None:
        row = int(position.get("row", 0))
        if header is None:
            header = read_header(path, inp)
    for item in _records(path, position if start else None, inp, follow=follow):
        if isinstance(item, _Idle):
            yield IDLE
            continue
        cells, line, after = item
        if line == -1:  # a rotated file starts with its own header
            header, row = (list(inp.columns) if inp.columns is not None else None), 0
            continue
        if header is None and isinstance(cells, list):
            header = _header(cells)
            continue
        row += 1
        place = {**after, "row": row}
        where = f"{path}:{line}"
        if isinstance(cells, BadRow):
            yield Record(where, cells, place)
            continue
        assert header is not None
        extra = cells[len(header):]
        if any(c.strip() for c in extra):
            yield Record(where, BadRow("bad_csv", f"{len(cells)} cells, but the header has "
                                                  f"{len(header)} columns"), place)
            continue
        yield Record(where, Row(dict(zip(header, cells, strict=False)), row, line), place)


def _jsonl(path: str, position: Position, inp: InputSpec, *, follow: bool) -> Items:
    start = start_offset(Path(path), position)
    row = int(position.get("row", 0)) if start and position is not None else 0
    for item in read_lines([path], position if start else None, follow=follow,
                           encoding=inp.encoding):
        if isinstance(item, _Idle):
            yield IDLE
            continue
        text = item.data.strip().removeprefix("\ufeff")
        if not text:
            continue
        row += 1
        place = {**item.position, "row": row}
        line = int(item.where.rsplit(":", 1)[1])
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield Record(item.where, BadRow("not_json", f"not JSON: {exc}"), place)
            continue
        if not isinstance(value, dict):
            yield Record(item.where, BadRow("not_object", f"a JSON {type(value).__name__}, "
                                                          "not an object"), place)
            continue
        yield Record(item.where, Row(value, row, line), place)


def fingerprint(paths: Sequence[str]) -> str:
    """What the sorted position is valid for: the files' inode, size and modification time."""
    parts = []
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            parts.append(f"{path}:missing")
            continue
        parts.append(f"{path}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).hexdigest()


def resumable(paths: Sequence[str], position: Mapping[str, Any]) -> bool:
    """True when reading from ``position`` goes on where the last run stopped; False when the
    input changed under it (a sorted input's files, or the position's file replaced or
    truncated) and is read again from the start."""
    if "sorted" in position:
        return position.get("sorted") == fingerprint(paths)
    if position.get("path") not in [str(p) for p in paths]:
        return False
    return not position.get("offset") or \
        start_offset(Path(str(position["path"])), position) > 0


def read_sorted(paths: Sequence[str], position: Position, inp: InputSpec,
                key: Callable[[Row], int | None]) -> Items:
    """Every row of ``paths``, stably sorted by ``key`` (rows without a key first: they are
    skipped by the mapper with their reason), from the saved place on."""
    records = [r for r in read_rows(paths, None, inp) if isinstance(r, Record)]

    def sort_key(record: Record) -> tuple[int, int]:
        k = key(record.data) if isinstance(record.data, Row) else None
        return (0, 0) if k is None else (1, k)

    records.sort(key=sort_key)
    stamp = fingerprint(paths)
    done = 0
    if position and position.get("sorted") == stamp:
        done = int(position.get("done", 0))
    for index in range(done, len(records)):
        record = records[index]
        yield Record(record.where, record.data,
                     {"path": str(paths[-1]), "sorted": stamp, "done": index + 1})
