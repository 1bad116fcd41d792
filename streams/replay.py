"""``ccpulse replay``: the engine over JSON-lines files, printing the exposition (SPEC §5).

Two passes, so that the result does not depend on line order: the first decodes and validates
every line and finds the engine clock (``--as-of``, else the greatest valid ``occurred_at``);
the second applies the events with that clock. The engine is the very one the worker runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

import orjson

from streams.core.config import Config
from streams.core.engine import Engine, Outcome
from streams.core.events import Event, topic_for_type
from streams.core.kpis import Family, contact_families
from streams.core.pipeline import PipelineStats
from streams.exporter import render
from streams.validation import Invalid, check_not_future, decode

UNKNOWN_TOPIC = "unknown"


@dataclass
class ReplayResult:
    engine: Engine
    stats: PipelineStats
    now_ms: int
    problems: list[str] = field(default_factory=list)

    def families(self) -> list[Family]:
        return [*contact_families(self.engine.config, [self.engine.ledger], self.now_ms),
                *self.stats.families(with_lag=False)]

    def exposition(self) -> bytes:
        return render(self.families)


def _lines(sources: Iterable[tuple[str, BinaryIO]]) -> Iterator[tuple[str, int, bytes]]:
    for name, stream in sources:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield name, number, line.rstrip(b"\r\n")


def _topic_of(raw: bytes) -> str:
    """Best-effort topic of an invalid line, for the invalid counter's label."""
    try:
        obj = orjson.loads(raw)
        topic = topic_for_type(obj.get("type", "")) if isinstance(obj, dict) else None
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        topic = None
    return topic or UNKNOWN_TOPIC


def replay_streams(
    sources: Iterable[tuple[str, BinaryIO]], config: Config, as_of_ms: int | None = None
) -> ReplayResult:
    stats = PipelineStats()
    problems: list[str] = []
    valid: list[tuple[str, int, Event]] = []
    for name, number, raw in _lines(sources):
        result = decode(raw, None)
        if isinstance(result, Invalid):
            stats.count_invalid(_topic_of(raw), result.reason)
            problems.append(f"{name}:{number}: {result.message}")
        else:
            valid.append((name, number, result))
    if as_of_ms is not None:
        now_ms = as_of_ms
    else:
        now_ms = max((ev.occurred_ms for _, _, ev in valid), default=0)
    engine = Engine(config)
    for name, number, event in valid:
        topic = topic_for_type(event.type) or UNKNOWN_TOPIC
        too_new = check_not_future(event, now_ms)
        if too_new is not None:
            stats.count_invalid(topic, too_new.reason)
            problems.append(f"{name}:{number}: {too_new.message}")
            continue
        outcome = engine.apply(event, now_ms)
        if outcome is Outcome.DUPLICATE:
            stats.count_duplicate(topic)
            continue
        if outcome is Outcome.LATE:
            stats.count_late(topic)
        stats.count_processed(topic, event.type, event.occurred_ms)
    return ReplayResult(engine=engine, stats=stats, now_ms=now_ms, problems=problems)


def run_replay(paths: list[str], config: Config, as_of_ms: int | None,
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
        result = replay_streams(opened, config, as_of_ms)
    finally:
        for name, stream in opened:
            if name != "<stdin>":
                stream.close()
    for problem in result.problems:
        print(problem, file=err)
    out.write(result.exposition())
    out.flush()
    return 0
