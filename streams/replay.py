"""``ccpulse replay``: the engine over JSON-lines files, printing the exposition (SPEC §5).

Lines are applied in file order, as a consumer would receive them, with stream time advancing
as it goes, through the very ingest step the worker runs (``streams.ingest``). The engine
clock is ``--as-of``, else the greatest valid ``occurred_at`` read. With ``--as-of T`` the
events that occur after T have not happened yet at T: they are left out and counted on
standard error, so the output is the state at T — what a worker's scrape at T shows.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from streams.core.config import Config
from streams.core.engine import Engine
from streams.core.kpis import all_families
from streams.core.metrics import Family
from streams.core.pipeline import PipelineStats
from streams.core.timestamps import format_us
from streams.exporter import render
from streams.ingest import AFTER_AS_OF, INVALID, ingest


@dataclass
class ReplayResult:
    engine: Engine
    stats: PipelineStats
    now_us: int
    problems: list[str] = field(default_factory=list)
    after_as_of: int = 0

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
    engine = Engine(config)
    problems: list[str] = []
    newest = 0
    after = 0
    for name, number, raw in _lines(sources):
        result = ingest(raw, engine, stats, as_of_us=as_of_us)
        if result.outcome == INVALID:
            problems.append(f"{name}:{number}: {result.invalid.message}")  # type: ignore[union-attr]
            continue
        if result.outcome == AFTER_AS_OF:
            after += 1
            continue
        if result.event.occurred_us > newest:  # type: ignore[union-attr]
            newest = result.event.occurred_us  # type: ignore[union-attr]
    now_us = as_of_us if as_of_us is not None else newest
    if after:
        problems.append(f"{after:,} event{'s' * (after != 1)} after --as-of "
                        f"{format_us(now_us)} left out ("
                        f"{'they had' if after != 1 else 'it had'} not happened yet)")
    return ReplayResult(engine=engine, stats=stats, now_us=now_us, problems=problems,
                        after_as_of=after)


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
    for problem in result.problems:
        print(problem, file=err)
    out.write(result.exposition())
    out.flush()
    return 0
