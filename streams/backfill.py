"""``ccpulse backfill``: the replay's state at every step of an archive, as OpenMetrics files
with timestamps for ``promtool tsdb create-blocks-from openmetrics`` (contract §5).

The snapshot at instant T is what ``ccpulse replay FILE… --as-of T`` prints: the events that
occur at or before T applied in file order, through the replay's ingest step, with the
engine clock at T. The archive is read once, streaming: before applying an event that occurs
after the next step boundary, the snapshots of the boundaries it passes are taken. That is
exact for an archive in event-time order (the simulator's, a topic read partition by
partition and merged by time). An event that arrives up to ``max_disorder_us`` after a later
one is still exact: events ahead of the next boundary wait, in order of time, until the
archive has moved ``max_disorder_us`` past it. An event that arrives later still is applied
when read, to every snapshot still to come, and counted as *behind*: the snapshots already
written do not hold it.

Memory is bounded by the engine's state and the disorder buffer, not by the archive: sample
lines go to one spool file per family on disk and each UTC day becomes one complete
OpenMetrics file (``ccpulse-YYYY-MM-DD.om``, every family contiguous, ``# EOF``) when the
day's snapshots are done. One file per day also keeps promtool fast: it reads its whole
input once per 2-hour block it writes.
"""

from __future__ import annotations

import gzip
import heapq
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO, TextIO

from streams.core.config import Config
from streams.core.engine import Engine, NoStore
from streams.core.metrics import Family
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import format_us
from streams.exporter import build_info
from streams.ingest import AFTER_AS_OF, INVALID, ingest
from streams.openmetrics import EOF, header, samples
from streams.replay import MAX_PROBLEM_LINES, ReplayResult

DAY_US = 86_400_000_000
#: Seconds between progress lines on standard error.
PROGRESS_EVERY_S = 5.0
GZIP_MAGIC = b"\x1f\x8b"


def first_boundary(at_us: int, step_us: int) -> int:
    """The first step boundary at or after ``at_us`` (boundaries are multiples of the step
    since the epoch, so a 1m step stamps whole minutes)."""
    return -(-at_us // step_us) * step_us


def day_file_name(at_us: int) -> str:
    return f"ccpulse-{format_us(at_us // DAY_US * DAY_US)[:10]}.om"


class DayFiles:
    """Snapshots in, one OpenMetrics file per UTC day out (in ``out_dir``).

    A family's sample lines are appended to its spool file as snapshots come; when a
    snapshot of a new day arrives (or at :meth:`close`) the finished day is written as header
    + spool per family, in the order families first came, then ``# EOF``; it is written under
    a temporary name and renamed, so a file with the final name is always complete."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.written: list[Path] = []
        self._spool_dir = tempfile.TemporaryDirectory(prefix=".spool-", dir=out_dir)
        self._spools: dict[str, tuple[str, IO[str]]] = {}  # name -> (header, spool)
        self._day: int | None = None

    def write(self, at_us: int, families: Iterable[Family]) -> None:
        day = at_us // DAY_US
        if self._day is not None and day != self._day:
            self._finish_day()
        self._day = day
        for fam in families:
            entry = self._spools.get(fam.name)
            if entry is None:
                path = Path(self._spool_dir.name) / f"{len(self._spools)}.txt"
                spool = open(path, "w+", encoding="utf-8")  # noqa: SIM115 - closed in discard()
                entry = self._spools[fam.name] = (header(fam), spool)
            entry[1].write(samples(fam, at_us))

    def _finish_day(self) -> None:
        assert self._day is not None
        path = self.out_dir / day_file_name(self._day * DAY_US)
        partial = path.with_name(path.name + ".partial")
        with open(partial, "w", encoding="utf-8") as out:
            for head, spool in self._spools.values():
                out.write(head)
                spool.flush()
                spool.seek(0)
                shutil.copyfileobj(spool, out, 1 << 20)
                spool.seek(0)
                spool.truncate()
            out.write(EOF)
        os.replace(partial, path)
        self.written.append(path)
        self._day = None

    def close(self) -> None:
        """Write the day in progress and remove the spool."""
        if self._day is not None:
            self._finish_day()
        self.discard()

    def discard(self) -> None:
        """Remove the spool; the day in progress is not written."""
        self._day = None
        for _, spool in self._spools.values():
            spool.close()
        self._spool_dir.cleanup()


@dataclass
class BackfillResult:
    snapshots: int = 0
    first_us: int | None = None
    last_us: int | None = None
    #: ``read``, ``invalid`` and ``behind`` (applied after a later snapshot was written).
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    valid_by_source: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)
    #: Reading stopped at the first event past ``--to`` (and ``--max-disorder``).
    stopped_past_to: bool = False

    def summary(self) -> str:
        c = self.counts
        span = (f"{format_us(self.first_us)} → {format_us(self.last_us)}"
                if self.first_us is not None and self.last_us is not None else "no snapshot")
        stopped = " (then stopped: past --to)" if self.stopped_past_to else ""
        return (f"backfill: {self.snapshots:,} snapshots ({span}) · read {c['read']:,}{stopped} "
                f"· invalid {c[INVALID]:,} · behind {c['behind']:,}")


def snapshot_families(engine: Engine, stats: PipelineStats, at_us: int) -> list[Family]:
    """What ``ccpulse replay --as-of at_us`` prints, as families (``cc_build_info`` too)."""
    return [*ReplayResult(engine=engine, stats=stats, now_us=at_us).families(), build_info()]


def _lines(sources: Iterable[tuple[str, BinaryIO]],
           names: list[str]) -> Iterator[tuple[str, int, bytes]]:
    from streams.errors import CcpulseError

    for name, stream in sources:
        names.append(name)
        number = 0
        try:
            for number, line in enumerate(stream, start=1):
                if line.strip():
                    yield name, number, line.rstrip(b"\r\n")
        except (OSError, EOFError) as exc:  # a truncated or corrupt gzip file
            raise CcpulseError(f"cannot read {name!r} after line {number:,}: {exc}") from None


def backfill_streams(
    sources: Iterable[tuple[str, BinaryIO]], config: Config,
    write: Callable[[int, list[Family]], None],
    *, step_us: int, from_us: int | None = None, to_us: int | None = None,
    max_disorder_us: int = 0, progress: Callable[[BackfillResult, int], None] | None = None,
    instants: Sequence[int] | None = None,
) -> BackfillResult:
    """Read ``sources`` once and ``write(T, families)`` at every step boundary T from the
    first at or after ``from_us`` (default: the first valid event's time) to the last at or
    before ``to_us`` (default: the first at or after the newest event). With ``instants``
    (``ccpulse report``'s month and day boundaries), T is each of those instead, and the
    step, ``from_us`` and ``to_us`` are not used."""
    stats = PipelineStats()
    engine = Engine(config, NoStore())
    result = BackfillResult()
    counts = result.counts
    pending: list[tuple[int, int, bytes]] = []  # (occurred_us, arrival, line) ahead of `at`
    at: int | None = None  # the next snapshot instant
    last_to = None if to_us is None else to_us // step_us * step_us
    planned = iter(sorted(set(instants or ())))
    if instants:
        last_to = max(instants)

    def advance(previous: int) -> int:
        return previous + step_us if instants is None else next(planned, last_to + 1)
    written_us = -1 << 62  # the last snapshot written
    newest = -1 << 62

    def snapshot() -> None:
        nonlocal at, written_us
        assert at is not None
        write(at, snapshot_families(engine, stats, at))
        result.snapshots += 1
        if result.first_us is None:
            result.first_us = at
        result.last_us = written_us = at
        at = advance(at)
        while pending and pending[0][0] <= at:
            ingest(heapq.heappop(pending)[2], engine, stats, as_of_us=at)

    for arrival, (name, number, raw) in enumerate(_lines(sources, result.sources)):
        got = ingest(raw, engine, stats, as_of_us=at if at is not None else -1 << 62)
        counts["read"] += 1
        if got.outcome == INVALID:
            counts[INVALID] += 1
            if len(result.problems) < MAX_PROBLEM_LINES:
                result.problems.append(f"{name}:{number}: {got.invalid.message}")  # type: ignore[union-attr]
            continue
        result.valid_by_source[name] += 1
        occurred = got.event.occurred_us  # type: ignore[union-attr]
        if got.outcome == AFTER_AS_OF:
            heapq.heappush(pending, (occurred, arrival, raw))
        elif occurred <= written_us:
            counts["behind"] += 1
        newest = max(newest, occurred)
        if at is None:
            at = (first_boundary(occurred if from_us is None else from_us, step_us)
                  if instants is None else advance(0))
            while pending and pending[0][0] <= at:
                ingest(heapq.heappop(pending)[2], engine, stats, as_of_us=at)
        while newest > at + max_disorder_us and (last_to is None or at <= last_to):
            snapshot()
        if progress is not None:
            progress(result, newest)
        if last_to is not None and at > last_to:
            result.stopped_past_to = True  # every snapshot asked for is written
            break
    if at is not None:
        end = last_to if last_to is not None else first_boundary(newest, step_us)
        while at <= end:
            snapshot()
    return result


def open_archive(path: str) -> tuple[str, BinaryIO]:
    """``path`` (``-`` is stdin) for reading lines; gzip (by its magic bytes) is inflated."""
    from streams.errors import CcpulseError

    if path == "-":
        name, stream = "<stdin>", sys.stdin.buffer
    else:
        try:
            name, stream = path, open(path, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise CcpulseError(f"cannot read {path!r}: {exc.strerror}") from None
    if stream.peek(2)[:2] == GZIP_MAGIC:  # type: ignore[attr-defined]
        return name, gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    return name, stream


class Progress:
    """A line on ``err`` every :data:`PROGRESS_EVERY_S` seconds: events read, snapshots
    written, the archive's time."""

    def __init__(self, err: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self._err = err
        self._clock = clock
        self._next = clock() + PROGRESS_EVERY_S

    def __call__(self, result: BackfillResult, newest_us: int) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + PROGRESS_EVERY_S
        print(f"backfill: at {format_us(newest_us)[:16]}Z · {result.counts['read']:,} events "
              f"read · {result.snapshots:,} snapshots written", file=self._err, flush=True)


def run_backfill(paths: list[str], config: Config, out_dir: str, *, step_us: int,
                 from_us: int | None, to_us: int | None, max_disorder_us: int,
                 err: TextIO) -> int:
    """CLI body: the day files in ``out_dir``, progress and a summary on ``err``."""
    from streams.errors import CcpulseError

    if from_us is not None and to_us is not None and to_us < from_us:
        raise CcpulseError(f"--to {format_us(to_us)} is before --from {format_us(from_us)}")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CcpulseError(f"cannot create the output directory {out_dir!r}: "
                           f"{exc.strerror}") from None
    opened: list[tuple[str, BinaryIO]] = []
    files = DayFiles(out)
    try:
        for path in paths:
            opened.append(open_archive(path))
        result = backfill_streams(opened, config, files.write, step_us=step_us,
                                  from_us=from_us, to_us=to_us,
                                  max_disorder_us=max_disorder_us, progress=Progress(err))
        files.close()
    finally:
        for name, stream in opened:
            if name != "<stdin>":
                stream.close()
        files.discard()  # after an error; a no-op after close()
    for problem in result.problems:
        print(problem, file=err)
    print(result.summary(), file=err)
    behind = result.counts["behind"]
    if behind:
        print(f"{behind:,} event{'s' * (behind != 1)} arrived after a snapshot later than "
              "they occurred had been written: those snapshots leave them out; raise "
              "--max-disorder to cover the archive's disorder", file=err)
    empty = [name for name in result.sources if not result.valid_by_source[name]]
    if empty:
        raise CcpulseError(f"{', '.join(map(repr, empty))} "
                           f"{'holds' if len(empty) == 1 else 'hold'} no valid event at all; "
                           "check that it is a JSON-lines event file")
    if not result.snapshots and any(result.valid_by_source.values()):
        raise CcpulseError("no step boundary lies both in --from..--to and in the archive's "
                           "time; check them against the events' occurred_at")
    for path in files.written:
        print(f"wrote {path}", file=err)
    return 0
