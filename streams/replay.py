"""``ccpulse replay``: the engine over JSON-lines files, printing the exposition (contract §5).

Lines are applied in file order, as a consumer would receive them, with stream time advancing
as it goes, through the very ingest step the worker runs (``streams.ingest``). The engine
clock is ``--as-of``, else the greatest valid ``occurred_at`` read. With ``--as-of T`` the
events that occur after T have not happened yet at T: they are left out and counted on
standard error, so the output is the state at T — what a worker's scrape at T shows.

Standard error gets at most :data:`MAX_PROBLEM_LINES` problem lines (``FILE:LINE: reason``)
plus a count of the rest, then one summary line (read, applied, invalid, duplicates, late,
after ``--as-of``). A file without a single valid event makes the command fail: it is almost
always the wrong file.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from streams.core.config import Config
from streams.core.engine import Engine, NoStore, Outcome
from streams.core.kpis import all_families
from streams.core.metrics import Family
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import format_us
from streams.exporter import render
from streams.ingest import AFTER_AS_OF, INVALID, ingest

#: Problem lines printed before the rest are only counted.
MAX_PROBLEM_LINES = 20


@dataclass
class ReplayResult:
    engine: Engine
    stats: PipelineStats
    now_us: int
    problems: list[str] = field(default_factory=list)
    after_as_of: int = 0
    #: Per outcome (``read``, ``invalid``, ``after_as_of`` and the engine's outcomes).
    counts: Counter[str] = field(default_factory=Counter)
    #: Valid events per source name, so a file without any can be named.
    valid_by_source: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what happened to every line read."""
        c = self.counts
        parts = [f"read {c['read']:,}", f"applied {c[Outcome.APPLIED] + c[Outcome.UNTRACKED]:,}",
                 f"invalid {c[INVALID]:,}", f"duplicates {c[Outcome.DUPLICATE]:,}",
                 f"late {c[Outcome.LATE]:,}"]
        if self.as_of_us is not None:
            parts.append(f"after --as-of {c[AFTER_AS_OF]:,}")
        return "replay: " + " · ".join(parts)

    @property
    def empty_sources(self) -> list[str]:
        """Sources read that held no valid event at all."""
        return [name for name in self.sources if not self.valid_by_source[name]]

    as_of_us: int | None = None

    def families(self) -> list[Family]:
        return [*all_families(self.engine.config, [self.engine.ledger], self.now_us),
                *self.stats.families(with_lag=False)]

    def exposition(self) -> bytes:
        return render(self.families)


def _lines(sources: Iterable[tuple[str, BinaryIO]]) -> Iterator[tuple[str, int, bytes]]:
    for name, stream in sources:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield name, number, line.rstrip(b"\r\n")


def replay_streams(
    sources: Iterable[tuple[str, BinaryIO]], config: Config, as_of_us: int | None = None
) -> ReplayResult:
    """Apply every line in file order; the result's clock is ``as_of_us`` or the newest
    valid event time."""
    stats = PipelineStats()
    engine = Engine(config, NoStore())
    problems: list[str] = []
    counts: Counter[str] = Counter()
    valid: Counter[str] = Counter()
    names: list[str] = []
    newest = 0
    after = 0

    def named(sources: Iterable[tuple[str, BinaryIO]]) -> Iterator[tuple[str, BinaryIO]]:
        for name, stream in sources:
            names.append(name)
            yield name, stream

    for name, number, raw in _lines(named(sources)):
        result = ingest(raw, engine, stats, as_of_us=as_of_us)
        counts["read"] += 1
        counts[result.outcome] += 1
        if result.outcome == INVALID:
            problems.append(f"{name}:{number}: {result.invalid.message}")  # type: ignore[union-attr]
            continue
        valid[name] += 1
        if result.outcome == AFTER_AS_OF:
            after += 1
            continue
        if result.event.occurred_us > newest:  # type: ignore[union-attr]
            newest = result.event.occurred_us  # type: ignore[union-attr]
    now_us = as_of_us if as_of_us is not None else newest
    return ReplayResult(engine=engine, stats=stats, now_us=now_us, problems=problems,
                        after_as_of=after, counts=counts, valid_by_source=valid,
                        sources=names, as_of_us=as_of_us)


def run_replay(paths: list[str], config: Config, as_of_us: int | None,
               out: BinaryIO, err: TextIO) -> int:
    """CLI body: read files (``-`` is stdin), print exposition, report bad lines on stderr."""
    from streams.errors import CcpulseError

    opened: list[tuple[str, BinaryIO]] = []
    try:
        for path in paths:
            if path == "-":
                opened.append(("<stdin>", sys.stdin.buffer))
            else:
                try:
                    opened.append((path, open(path, "rb")))  # noqa: SIM115 - closed below
                except OSError as exc:
                    raise CcpulseError(f"cannot read {path!r}: {exc.strerror}") from None
        result = replay_streams(opened, config, as_of_us)
    finally:
        for name, stream in opened:
            if name != "<stdin>":
                stream.close()
    for problem in result.problems[:MAX_PROBLEM_LINES]:
        print(problem, file=err)
    rest = len(result.problems) - MAX_PROBLEM_LINES
    if rest > 0:
        print(f"… and {rest:,} more problem line{'s' * (rest != 1)} not shown", file=err)
    after = result.after_as_of
    if after:
        print(f"{after:,} event{'s' * (after != 1)} after --as-of {format_us(result.now_us)} "
              f"left out ({'they had' if after != 1 else 'it had'} not happened yet)", file=err)
    print(result.summary(), file=err)
    empty = result.empty_sources
    if empty:
        raise CcpulseError(f"{', '.join(map(repr, empty))} "
                           f"{'holds' if len(empty) == 1 else 'hold'} no valid event at all "
                           "(see the problems above); check that it is a JSON-lines event file")
    out.write(result.exposition())
    out.flush()
    return 0
