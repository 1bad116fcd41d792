"""One line of Asterisk's ``queue_log``, parsed: no I/O, no mapping.

A line is ``TIME|CALLID|QUEUENAME|AGENT|EVENT|DATA1|DATA2|...`` (Asterisk ``main/logger.c``,
``ast_queue_log``: the file is written with ``"%ld|%s|%s|%s|%s|"`` and then the event's own
``|``-separated data). ``TIME`` is

- epoch seconds, as the file writes them (``time(NULL)``), optionally with a fraction
  (``1732266902.120001``) -- read exactly to the microsecond;
- or ``YYYY-MM-DD HH:MM:SS[.ffffff]``, the ``time`` column of a realtime/database
  ``queue_log`` (``logger.c``: ``"%F %T.%6q"`` in the server's local time, or GMT with
  ``queue_log_realtime_use_gmt``) -- read in the timezone the caller gives. An ambiguous local
  time (the repeated hour when DST ends) is taken as its first occurrence.

``CALLID`` is the caller channel's uniqueid, or ``NONE`` / ``MANAGER`` / ``CLI`` /
``REALTIME`` on lines about members. ``QUEUENAME`` and ``AGENT`` are ``NONE`` when there is
none. Sources: https://docs.asterisk.org/Operation/Logging/Queue-Logs/ and every
``ast_queue_log`` call in https://github.com/asterisk/asterisk/blob/master/apps/app_queue.c.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Final

from streams.sources.base import Skipped

#: Placeholders Asterisk writes where a line has no queue or agent.
NOBODY: Final = frozenset({"", "NONE"})
#: ``CALLID`` values that name no caller channel (member and system lines).
NOT_A_CALL: Final = frozenset({"", "NONE", "MANAGER", "CLI", "REALTIME", "AUTO"})

_EPOCH = re.compile(r"^(\d{9,11})(?:\.(\d{1,9}))?$")
_DATETIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")
#: The channel technology of a member interface: ``PJSIP/1001`` -> ``1001``.
_TECH = re.compile(r"^(?:PJSIP|SIP|IAX2|DAHDI|Agent|Local|SCCP|Skinny|H323|OOH323|MGCP|"
                   r"UNISTIM|Console|WebRTC|Motif|Custom)/(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class QueueLogLine:
    """A parsed line. ``at_us``: integer epoch microseconds; ``data``: DATA1, DATA2, ... as
    written (trailing empty fields kept); ``text``: the line as read (the basis of ids)."""

    at_us: int
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...]
    text: str

    def field(self, index: int) -> str:
        """DATA ``index`` (0-based), ``""`` when the line has fewer fields."""
        return self.data[index].strip() if index < len(self.data) else ""


def parse_line(text: str, zone: tzinfo) -> QueueLogLine | Skipped:
    """``text`` (one line, no line ending) as a :class:`QueueLogLine`, or why it is not one:
    ``ignored:blank``, ``bad_line`` (fewer than five fields, no event), ``bad_time``."""
    if not text.strip():
        return Skipped("ignored:blank", "an empty line")
    parts = text.split("|")
    if len(parts) < 5 or not parts[4].strip():
        return Skipped("bad_line", f"not TIME|CALLID|QUEUE|AGENT|EVENT|...: {text[:80]!r}")
    at_us = parse_time(parts[0].strip(), zone)
    if at_us is None:
        return Skipped("bad_time", f"time {parts[0][:40]!r} is neither epoch seconds nor "
                                   "YYYY-MM-DD HH:MM:SS[.ffffff]")
    return QueueLogLine(at_us, parts[1].strip(), parts[2].strip(), parts[3].strip(),
                        parts[4].strip().upper(), tuple(parts[5:]), text)


def parse_time(text: str, zone: tzinfo) -> int | None:
    """Epoch microseconds of a queue_log time (see the module docstring), None when it is
    neither form. Digits past the microsecond are truncated, as the contract does (§1.1)."""
    match = _EPOCH.match(text)
    if match:
        fraction = (match.group(2) or "").ljust(6, "0")[:6]
        return int(match.group(1)) * 1_000_000 + int(fraction)
    match = _DATETIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=zone, fold=0)
    except ValueError:
        return None
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    return int(local.timestamp()) * 1_000_000 + int(fraction)


def clean_agent(raw: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """The ``agent_id`` of a queue_log AGENT field, or None for ``NONE``.

    An alias from the configuration wins (``"Alice Smith" = "1001"``); otherwise a member
    interface loses its channel technology, and a Local channel its context and options
    (``PJSIP/1001``, ``SIP/1001``, ``Agent/1001`` and ``Local/1001@from-queue/n`` are all
    ``1001``); any other member name is kept as written.
    """
    raw = raw.strip()
    if raw in NOBODY:
        return None
    if aliases and raw in aliases:
        return aliases[raw]
    match = _TECH.match(raw)
    if not match:
        return raw
    return match.group(1).split("@", 1)[0].split("/", 1)[0] or raw


def whole_seconds(text: str) -> int | None:
    """A queue_log duration field (whole seconds, ``%ld``), None when it is not one."""
    text = text.strip()
    return int(text) if text.isdigit() else None
