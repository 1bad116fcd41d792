"""One log line per kind of trouble, with backoff, instead of one per retry.

aiokafka logs every failed connection attempt at ERROR, a few per second per connection: a
worker without its broker wrote ~120 lines a second, a simulator ~5,000. :class:`CollapseRepeats`
lets the first record of each *kind* through, then at most one per backoff period (10 s,
doubling to 5 min) carrying how many were held back; a kind not seen for twice its period is
forgotten, so the next outage is reported at once. A kind is the logger, the level and the
message with every number taken out (node ids, ports and pids change; the trouble does not).
ccpulse's own status lines (``ccpulse worker: …``: engines built, snapshots written or not
used, each about other partitions or counts) always pass: they are few, and each says
something the one before did not.

Attach it to a *handler* (filters on a logger do not see its children's records), e.g. with
:func:`collapse_repeats_on`.

:class:`StartupTransients` holds back what aiokafka logs at ERROR while a worker starts on a
broker that is itself just starting or creating the worker's topics (the group coordinator
not yet available, a changelog topic not yet in the metadata): retried at once and gone
within seconds, they read as faults. After the first minute they pass like any other line.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIRST_BACKOFF_S = 10.0
MAX_BACKOFF_S = 300.0
#: Kinds remembered at most (a flood of distinct messages must not grow memory).
MAX_KINDS = 1000

_NUMBER = re.compile(r"\d+")
#: The start of ccpulse's own status lines, never collapsed.
OWN_LINES = "ccpulse "


@dataclass
class _Kind:
    next_due: float
    backoff_s: float
    held: int = 0
    last_seen: float = 0.0


class CollapseRepeats(logging.Filter):
    """A handler filter: the first of a kind passes, repeats pass once per backoff period."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 first_backoff_s: float = FIRST_BACKOFF_S,
                 max_backoff_s: float = MAX_BACKOFF_S) -> None:
        super().__init__()
        self._clock = clock
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(OWN_LINES):
            return True
        now = self._clock()
        key = (record.name, record.levelno, _NUMBER.sub("#", message))
        kind = self._kinds.get(key)
        if kind is not None and now - kind.last_seen > 2 * kind.backoff_s:
            kind = None  # quiet long enough: a new episode
        if kind is None:
            if len(self._kinds) >= MAX_KINDS:
                self._kinds.clear()
            self._kinds[key] = _Kind(now + self._first_backoff_s, self._first_backoff_s,
                                     last_seen=now)
            return True
        kind.last_seen = now
        if now < kind.next_due:
            kind.held += 1
            return False
        if kind.held:
            record.msg = f"{record.getMessage()} (and {kind.held:,} more like it in the last " \
                         f"{kind.backoff_s:g} s; next report in at most " \
                         f"{min(2 * kind.backoff_s, self._max_backoff_s):g} s)"
            record.args = ()
        kind.held = 0
        kind.backoff_s = min(2 * kind.backoff_s, self._max_backoff_s)
        kind.next_due = now + kind.backoff_s
        return True


def collapse_repeats_on(handlers: list[logging.Handler],
                        clock: Callable[[], float] = time.monotonic) -> CollapseRepeats:
    """Add one shared :class:`CollapseRepeats` to every handler (once); return it."""
    for handler in handlers:
        for existing in handler.filters:
            if isinstance(existing, CollapseRepeats):
                return existing
    shared = CollapseRepeats(clock)
    for handler in handlers:
        handler.addFilter(shared)
    return shared


class StreamAtEachRecord(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``stream_of()`` as it is at each record, not to a stream taken once (which
    may be replaced, and closed, since: a test's capture, a redirection)."""

    def __init__(self, stream_of: Callable[[], Any]) -> None:
        self._stream_of = stream_of
        super().__init__(stream_of())

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return self._stream_of()

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _StderrHandler(StreamAtEachRecord):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def __init__(self) -> None:
        super().__init__(lambda: sys.stderr)


def quiet_stderr_logging(prefix: str) -> None:
    """For a command without logging of its own (``simulate``, ``produce``): warnings and
    errors to stderr as ``<prefix>: <message>``, repeats collapsed. Calling it again (the
    CLI run twice in one process) replaces the handler instead of adding another."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    collapse_repeats_on([handler])


#: aiokafka's ERROR lines that a start on a new broker or with new topics gives, retried.
STARTUP_TRANSIENTS = (
    re.compile(r"^Group Coordinator Request failed: \[Error 15\] GroupCoordinatorNotAvailable"),
    re.compile(r"^Topic \S+ not found in cluster metadata$"),
    re.compile(r"^Topic \S+ is not available during auto-create initialization$"),
)
#: How long after the worker's start those lines are held back.
STARTUP_GRACE_S = 60.0


class StartupTransients(logging.Filter):
    """A handler filter: aiokafka's :data:`STARTUP_TRANSIENTS` are dropped during the first
    :data:`STARTUP_GRACE_S` after the filter was made (the worker's start) unless ``verbose``
    (the log level is INFO or DEBUG); every other record, and those later, pass."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 grace_s: float = STARTUP_GRACE_S, verbose: bool = False) -> None:
        super().__init__()
        self._clock = clock
        self._until = clock() + grace_s
        self._verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self._verbose or not record.name.startswith("aiokafka"):
            return True
        if self._clock() >= self._until:
            return True
        message = record.getMessage()
        return not any(pattern.match(message) for pattern in STARTUP_TRANSIENTS)
