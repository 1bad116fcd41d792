"""Running a connector: read, map, validate, send, checkpoint, report.

:func:`pump` is the one loop every pull connector (files, logs, exports) runs through. Each
mapped event is checked with the engine's own decoder (:func:`streams.validation.decode_obj`),
so an event the worker would dead-letter is counted here, by reason, and not sent. A mapper
that raises is a bug, but still not a crash: the record is skipped as ``mapper_error``.
Progress goes to standard error every few seconds; :func:`format_summary` is the last word.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from streams.errors import describe
from streams.sources.base import IDLE, Connector, Record, Skipped
from streams.sources.checkpoint import CheckpointStore
from streams.sources.sinks import Sink
from streams.validation import Invalid, decode_obj

#: Events between two checkpoints while reading fast (a flush waits for Kafka's acks).
CHECKPOINT_EVERY = 20_000
#: How long to wait before looking again at a followed input with nothing new.
IDLE_WAIT_S = 0.25
#: Examples kept per skip reason for the summary.
EXAMPLES = 3
#: Seconds between two progress lines.
PROGRESS_EVERY_S = 5.0


@dataclass
class ConnectReport:
    """What a run read, sent and skipped."""

    records: int = 0
    events: Counter[str] = field(default_factory=Counter)   # by event type
    skipped: Counter[str] = field(default_factory=Counter)  # by reason
    examples: dict[str, list[str]] = field(default_factory=dict)
    newest_us: int | None = None
    resumed: bool = False
    stopped: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def sent(self) -> int:
        return sum(self.events.values())

    def skip(self, note: Skipped, where: str) -> bool:
        """Count ``note``; True when its reason is new in this run."""
        self.skipped[note.reason] += 1
        shown = self.examples.setdefault(note.reason, [])
        if len(shown) < EXAMPLES:
            shown.append(f"{note.where or where}: {note.detail}")
        return self.skipped[note.reason] == 1

    def counts(self) -> dict[str, int]:
        return {"records": self.records, "sent": self.sent,
                "skipped": sum(self.skipped.values())}


def _now_us() -> int:
    return time.time_ns() // 1000


async def pump(connector: Connector, sink: Sink, store: CheckpointStore | None, *,
               err: TextIO | None = None, stop: asyncio.Event | None = None,
               clock: Callable[[], int] = _now_us,
               checkpoint_every: int = CHECKPOINT_EVERY) -> ConnectReport:
    """Run ``connector`` into ``sink`` until its input ends (or ``stop`` is set, following).

    Resumes from ``store``'s checkpoint when there is one; saves one after every
    ``checkpoint_every`` events, whenever the input is idle, and at the end -- each time only
    after ``sink.flush()`` returned.
    """
    report = ConnectReport()
    mapper = connector.mapper
    saved = store.load() if store is not None else None
    position = None
    if saved is not None:
        position = saved.get("position")
        mapper.restore(saved.get("mapper") or {})
        report.resumed = True
    progress = _Progress(connector, report, err)
    since_checkpoint = 0

    async def checkpoint() -> None:
        nonlocal since_checkpoint
        await sink.flush()
        if store is not None and position is not None:
            store.save(position, mapper.state(), report.counts())
        since_checkpoint = 0

    for item in connector.read(position):
        if stop is not None and stop.is_set():
            report.stopped = True
            break
        if item is IDLE:
            await checkpoint()
            progress.maybe(idle=True)
            try:
                if stop is None:
                    await asyncio.sleep(IDLE_WAIT_S)
                else:
                    await asyncio.wait_for(stop.wait(), IDLE_WAIT_S)
            except TimeoutError:
                pass
            continue
        assert isinstance(item, Record)
        report.records += 1
        for out in _map(mapper, item):
            if isinstance(out, Skipped):
                if report.skip(out, item.where):
                    progress.first_skip(out.reason)
                continue
            decoded = decode_obj(out, clock())
            if isinstance(decoded, Invalid):
                reason = f"invalid_event:{decoded.reason}"
                if report.skip(Skipped(reason, f"{out.get('type')}: {decoded.message}"),
                              item.where):
                    progress.first_skip(reason)
                continue
            await sink.send(out)
            report.events[decoded.type] += 1
            if report.newest_us is None or decoded.occurred_us > report.newest_us:
                report.newest_us = decoded.occurred_us
            since_checkpoint += 1
        position = item.position
        if since_checkpoint >= checkpoint_every:
            await checkpoint()
        progress.maybe()
    await checkpoint()
    return report


def _map(mapper: Any, record: Record) -> list[Any]:
    try:
        return list(mapper.map(record))
    except Exception as exc:  # a mapping bug must not stop a live feed; it is reported
        return [Skipped("mapper_error", f"{describe(exc)} (please report this "
                                        "record)")]


class _Progress:
    """A progress line on stderr every :data:`PROGRESS_EVERY_S`, with how far into the file."""

    def __init__(self, connector: Connector, report: ConnectReport,
                 err: TextIO | None) -> None:
        self._connector = connector
        self._report = report
        self._err = err
        self._next = time.monotonic() + PROGRESS_EVERY_S
        self._said_idle_at: int | None = None

    def first_skip(self, reason: str) -> None:
        """The first record skipped for a reason is said at once (a live feed may run for
        days before its summary); the rest are counted."""
        if self._err is None or reason.startswith("ignored:"):
            return
        self._err.write(f"connect {self._connector.system}: skipping {reason}: "
                        f"{self._report.examples[reason][0]} (counted; later ones are only "
                        "in the summary)\n")
        self._err.flush()

    def maybe(self, *, idle: bool = False) -> None:
        if self._err is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + PROGRESS_EVERY_S
        r = self._report
        if idle:  # following a quiet input: say so once, not every few seconds
            if self._said_idle_at == r.records:
                return
            self._said_idle_at = r.records
        state = " · following, nothing new" if idle else ""
        self._err.write(f"connect {self._connector.system}: {r.records:,} records · "
                        f"{r.sent:,} events sent · {sum(r.skipped.values()):,} skipped"
                        f"{_newest(r)}{state}\n")
        self._err.flush()


def _newest(report: ConnectReport) -> str:
    if report.newest_us is None:
        return ""
    from streams.sources.base import rfc3339_us
    return f" · newest event {rfc3339_us(report.newest_us - report.newest_us % 1_000_000)}"


def format_summary(connector: Connector, report: ConnectReport, target: str) -> str:
    """The closing lines: records read, events sent by type, skips by reason with examples."""
    took = time.monotonic() - report.started
    head = (f"connect {connector.system}: read {_n(report.records, 'record')}"
            f"{' (resumed from the checkpoint)' if report.resumed else ''} in {took:.1f} s; "
            f"sent {_n(report.sent, 'event')} to {target}")
    if report.stopped:
        head += " before stopping"
    lines = [head]
    if report.events:
        lines.append("  " + " · ".join(f"{t} {n:,}" for t, n in sorted(report.events.items())))
    total = sum(report.skipped.values())
    if total:
        lines.append(f"  skipped {total:,}:")
        width = max(len(reason) for reason in report.skipped)
        for reason, count in report.skipped.most_common():
            lines.append(f"    {reason:<{width}}  {count:>9,}  e.g. "
                         f"{report.examples[reason][0]}")
    return "\n".join(lines)


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def file_target_label(path: str) -> str:
    return "standard output" if path == "-" else os.path.abspath(path)
