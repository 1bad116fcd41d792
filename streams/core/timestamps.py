"""The one RFC 3339 parser and formatter of ccpulse, exact to the microsecond (contract §1.1).

Inside the core every instant is an ``int`` of microseconds since the Unix epoch (UTC), and
every duration an ``int`` of microseconds (names end in ``_us``): integer arithmetic keeps
every digit the producer sent, so a wait of 20.0004 s is over a 20 s threshold, and sums do
not depend on the order they were added in.

Strict on purpose: a timestamp without an offset is ambiguous (whose local time?), so it is
refused rather than guessed. Fraction digits beyond the microsecond (nanoseconds) are
truncated, never rounded, so an event never moves into the next microsecond (or window). A
leap second (``:60``) counts as the first instant of the next minute, as POSIX time does.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final

SECOND_US: Final = 1_000_000
MINUTE_US: Final = 60 * SECOND_US
HOUR_US: Final = 60 * MINUTE_US
DAY_US: Final = 24 * HOUR_US

_RFC3339: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_EPOCH_ORDINAL: Final = _EPOCH.toordinal()
EXAMPLE: Final = "2026-11-22T09:15:02.120Z"

_DATE_ONLY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NO_OFFSET: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?"
)
_COMPACT_OFFSET: Final = re.compile(r".*[Tt ][0-9:.]+[+-][0-9]{2}(?:[0-9]{2})?")


def parse_us(text: str) -> int:
    """``text``, an RFC 3339 timestamp with a UTC offset, as integer epoch microseconds.

    ``"2026-11-22T09:15:02.000400Z"`` → ``1795338902000400``.

    Raises ``ValueError`` whose message quotes ``text`` and says what is wrong with it.

    The shape producers send (``YYYY-MM-DDTHH:MM:SS[.f…]Z``, ASCII digits, a real date, no
    leap second) takes a fast path; anything else goes to the full parser, which gives the
    same result, or the error message, for every input.
    """
    if text.__class__ is str and text[-1:] == "Z" and text.isascii():
        minute_us = _MINUTES.get(text[:16])
        if minute_us is None:
            minute_us = _minute_us(text[:16])
        if minute_us is not None and text[16] == ":":
            size = len(text)
            if size == 24 and text[19] == ".":  # milliseconds: the usual shape
                digits = text[17:19] + text[20:23]
                if digits.isdigit() and digits < "60":
                    return minute_us + int(digits) * 1000
            elif size == 20:
                second = text[17:19]
                if second.isdigit() and second < "60":
                    return minute_us + int(second) * SECOND_US
            elif size > 21 and text[19] == ".":
                second = text[17:19]
                fraction = text[20:-1]
                if second.isdigit() and second < "60" and fraction.isdigit():
                    return minute_us + int(second) * SECOND_US + int(fraction[:6].ljust(6, "0"))
    return _parse_us_full(text)


#: ``YYYY-MM-DDTHH:MM`` -> its epoch microseconds (:func:`_utc_minute_us`), for the minutes
#: seen lately: events of a stream share few minutes, so the calendar arithmetic runs once per
#: minute, not once per event. Emptied when it holds :data:`_MINUTES_KEPT`.
_MINUTES: Final[dict[str, int]] = {}
_MINUTES_KEPT: Final = 4096


def _minute_us(prefix: str) -> int | None:
    """:func:`_utc_minute_us`, remembered in :data:`_MINUTES` when it is one."""
    minute_us = _utc_minute_us(prefix)
    if minute_us is not None:
        if len(_MINUTES) >= _MINUTES_KEPT:
            _MINUTES.clear()
        _MINUTES[prefix] = minute_us
    return minute_us


def _utc_minute_us(prefix: str) -> int | None:
    """Epoch microseconds of ``YYYY-MM-DDTHH:MM`` read as UTC, or ``None`` for any other
    string (then :func:`_parse_us_full` decides)."""
    if not (len(prefix) == 16 and prefix.isascii() and prefix[4] == "-" and prefix[7] == "-"
            and prefix[10] == "T" and prefix[13] == ":"):
        return None
    digits = prefix[:4] + prefix[5:7] + prefix[8:10] + prefix[11:13] + prefix[14:16]
    hour, minute = prefix[11:13], prefix[14:16]
    if not digits.isdigit() or hour > "23" or minute > "59":
        return None
    try:
        day = date(int(prefix[:4]), int(prefix[5:7]), int(prefix[8:10]))
    except ValueError:  # year 0, month 13, February 30, ...
        return None
    return ((day.toordinal() - _EPOCH_ORDINAL) * DAY_US + int(hour) * HOUR_US
            + int(minute) * MINUTE_US)


def _parse_us_full(text: str) -> int:
    """:func:`parse_us` for every form RFC 3339 allows, with the error messages."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(shape_problem(text))
    whole, fraction, offset = match.groups()
    offset = offset.upper()
    if offset != "Z" and (offset[1:3] > "23" or offset[4] > "5"):
        raise ValueError(f"{show(text)} has a UTC offset beyond ±23:59")
    whole = whole.upper()
    leap_us = 0
    if whole[17:19] == "60":
        whole, leap_us = f"{whole[:17]}59", SECOND_US
    try:
        instant = datetime.fromisoformat(whole + ("+00:00" if offset == "Z" else offset))
    except ValueError as exc:
        raise ValueError(f"{show(text)} is not a real date and time: {exc}") from None
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return (instant - _EPOCH) // _ONE_US + micros + leap_us


def format_us(epoch_us: int) -> str:
    """Epoch microseconds as RFC 3339 UTC, with exactly as many fraction digits as needed
    (none, milliseconds or microseconds): ``2026-11-22T09:15:02.120Z``."""
    moment = _EPOCH + epoch_us * _ONE_US
    spec = "seconds" if epoch_us % SECOND_US == 0 else (
        "milliseconds" if epoch_us % 1000 == 0 else "microseconds")
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def shape_problem(text: str) -> str:
    """Say, in terms a producer can act on, why ``text`` is not RFC 3339 with an offset."""
    shown = show(text)
    if _DATE_ONLY.fullmatch(text):
        return f"{shown} is a date without a time (expected e.g. {EXAMPLE})"
    no_offset = _NO_OFFSET.fullmatch(text) is not None
    if text[10:11] == " " and _DATE_ONLY.fullmatch(text[:10]):
        also = " and a UTC offset ('Z' or ±hh:mm)" if no_offset else ""
        return f"{shown} separates date and time with a space; RFC 3339 needs 'T'{also}"
    if no_offset:
        return f"{shown} has no UTC offset (add 'Z' or ±hh:mm, e.g. {EXAMPLE})"
    if _COMPACT_OFFSET.fullmatch(text):
        return f"{shown} has a UTC offset that is not ±hh:mm"
    return f"{shown} is not an RFC 3339 timestamp with offset (expected e.g. {EXAMPLE})"


_MAX_SHOWN: Final = 80


def show(value: object) -> str:
    """A string quoted for a message, cut at 80 characters."""
    text = f"'{value}'" if isinstance(value, str) else repr(value)
    if len(text) > _MAX_SHOWN:
        text = f"{text[: _MAX_SHOWN - 1]}… ({len(text)} chars)"
    return text
