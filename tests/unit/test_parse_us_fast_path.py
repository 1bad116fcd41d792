"""``parse_us`` has a fast path for the shape producers send (``YYYY-MM-DDTHH:MM:SS[.f…]Z``);
it must agree with the full RFC 3339 parser on every input: the same microseconds, or the same
``ValueError`` message. Generated timestamps, near-misses and hand-picked traps."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import compiled
from streams.core.timestamps import _parse_us_full, parse_us


def timestamps_source() -> ModuleType:
    """``streams/core/timestamps.py`` loaded from its source under a name of its own: the
    module the package imports may be the compiled copy (streams.compiled), whose calls
    between its own functions a patched module attribute does not reach."""
    path = compiled.source_path("streams.core.timestamps")
    spec = importlib.util.spec_from_file_location("timestamps_from_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def outcome(parse, text: str) -> tuple[str, object]:
    """What ``parse`` does with ``text``: ``("ok", microseconds)`` or ``("error", message)``."""
    try:
        return ("ok", parse(text))
    except ValueError as exc:
        return ("error", str(exc))


def agrees_with_full_parser(text: str) -> bool:
    return outcome(parse_us, text) == outcome(_parse_us_full, text)


instants = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                        timezones=st.just(UTC))
fractions = st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=12).map("." .__add__))


@st.composite
def producer_timestamps(draw) -> str:
    """The common shape: whole seconds plus 0 to 12 fraction digits, ``Z``."""
    instant = draw(instants)
    return instant.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + draw(fractions) + "Z"


#: Characters that ``int()`` or ``str.isdigit`` would accept but RFC 3339 does not.
TRAPS = "+- _\t0123456789٣²zZtT:.x"


@st.composite
def near_misses(draw) -> str:
    """A producer timestamp with one to three characters replaced or inserted."""
    text = list(draw(producer_timestamps()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        char = draw(st.sampled_from(TRAPS))
        if draw(st.booleans()) and at < len(text):
            text[at] = char
        else:
            text.insert(at, char)
    return "".join(text)


class TestParseUsFastPath:
    @settings(max_examples=2000, deadline=None)
    @given(producer_timestamps())
    def test_agrees_with_the_full_parser_on_producer_timestamps(self, text):
        assert agrees_with_full_parser(text)

    @settings(max_examples=3000, deadline=None)
    @given(near_misses())
    def test_agrees_with_the_full_parser_on_near_misses(self, text):
        assert agrees_with_full_parser(text)

    @settings(max_examples=1000, deadline=None)
    @given(st.text(alphabet=TRAPS, min_size=18, max_size=32))
    def test_agrees_with_the_full_parser_on_arbitrary_strings(self, text):
        assert agrees_with_full_parser(text)

    @pytest.mark.parametrize("text", [
        "2026-11-22T09:15:02.120Z",
        "2026-11-22T09:15:02Z",
        "2026-11-22T09:15:02.123456789Z",
        "2026-12-31T23:59:60Z",  # leap second: the full parser's rule
        "2024-02-29T12:00:00Z",
        "2025-02-29T12:00:00Z",  # not a real date
        "0000-01-01T00:00:00Z",  # year 0
        "2026-11-22T24:00:00Z",
        "2026-11-22T09:60:00Z",
        "2026-11-22T09:15:61Z",
        "2026-11-22t09:15:02z",
        "2026-11-22T09:15:02.Z",
        "2026-11-22T09:15:02.+12Z",
        "2026-11-22T09:15:02._1Z",
        "2026-11-22T09:15:02. 1Z",
        "2026-11-22T09:15: 2Z",
        "2026-11-22T09:15:+2Z",
        "+026-11-22T09:15:02Z",
        "2026-11-22T09:15:02.١٢٣Z",  # Arabic-Indic digits: int() takes them, RFC 3339 does not
        "2026-11-22T09:15:0²Z",
        "2026-11-22T09:15:02+01:00",
        "2026-11-22 09:15:02Z",
    ], ids=lambda text: text)
    def test_agrees_with_the_full_parser_on_traps(self, text):
        assert agrees_with_full_parser(text)

    def test_a_producer_timestamp_keeps_every_microsecond(self):
        assert parse_us("2026-11-22T09:15:02.000400Z") == 1_795_338_902_000_400

    @pytest.mark.parametrize("text", ["2026-11-22T09:15:02Z", "2026-11-22T09:15:02.120Z",
                                      "2026-11-22T09:15:02.000400Z"], ids=lambda text: text)
    def test_the_producer_shape_does_not_reach_the_full_parser(self, text, monkeypatch):
        def refuse(text: str) -> int:
            raise AssertionError(f"{text} took the full parser")

        source = timestamps_source()
        monkeypatch.setattr(source, "_parse_us_full", refuse)
        assert source.parse_us(text) == _parse_us_full(text)
