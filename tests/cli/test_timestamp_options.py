"""``--as-of`` (replay) and ``--start`` (simulate) read time with the project's one RFC 3339
parser (``streams.core.timestamps``): the same forms as event times, exact to the microsecond,
and the parser's own message as a one-line usage error (exit 2)."""

from __future__ import annotations

import argparse
import sys
import types

import pytest

from streams.cli import main, parse_timestamp_us
from streams.simulate.cli import parse_start_ms

EXAMPLE = "2026-11-22T09:15:02.120Z"

#: (text, the parser's message) -- the exact words a user sees after "argument --X: ".
REFUSED = [
    ("yesterday",
     f"'yesterday' is not an RFC 3339 timestamp with offset (expected e.g. {EXAMPLE})"),
    ("2026-11-22T09:00:00",
     f"'2026-11-22T09:00:00' has no UTC offset (add 'Z' or ±hh:mm, e.g. {EXAMPLE})"),
    ("2026-11-22",
     f"'2026-11-22' is a date without a time (expected e.g. {EXAMPLE})"),
    ("2026-11-22 09:00:00Z",
     "'2026-11-22 09:00:00Z' separates date and time with a space; RFC 3339 needs 'T'"),
    ("2026-11-22T09:00:00+0100",
     "'2026-11-22T09:00:00+0100' has a UTC offset that is not ±hh:mm"),
    ("2026-02-30T09:00:00Z",
     "'2026-02-30T09:00:00Z' is not a real date and time: day is out of range for month"),
    ("2026-11-22T09:00:00+24:00",
     "'2026-11-22T09:00:00+24:00' has a UTC offset beyond ±23:59"),
]
REFUSED_IDS = ["not-a-timestamp", "no-offset", "date-only", "space-separator",
               "compact-offset", "impossible-date", "offset-out-of-range"]


class TestAsOf:
    @pytest.mark.parametrize(
        ("text", "epoch_us"),
        [("2026-11-22T09:15:02Z", 1_795_338_902_000_000),
         ("2026-11-22T09:15:02.000400Z", 1_795_338_902_000_400),
         ("2026-11-22T14:45:02.000400+05:30", 1_795_338_902_000_400),
         ("2026-11-22t09:15:02.000400z", 1_795_338_902_000_400),
         ("2026-11-22T09:15:02.000400999Z", 1_795_338_902_000_400),
         ("2026-12-31T23:59:60Z", 1_798_761_600_000_000)],
        ids=["whole-seconds", "microseconds", "offset", "lower-case", "nanoseconds-truncated",
             "leap-second"],
    )
    def test_gives_epoch_microseconds_keeping_every_digit(self, text, epoch_us):
        assert parse_timestamp_us(text) == epoch_us

    @pytest.mark.parametrize(("text", "message"), REFUSED, ids=REFUSED_IDS)
    def test_refuses_with_the_parsers_message(self, text, message):
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            parse_timestamp_us(text)
        assert str(refused.value) == message

    @pytest.mark.parametrize(("text", "message"), REFUSED, ids=REFUSED_IDS)
    def test_a_bad_value_is_a_one_line_usage_error(self, text, message, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main(["replay", "-", "--as-of", text])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err == (f"Error: argument --as-of: {message}. Try 'ccpulse replay --help'.\n")

    def test_reaches_the_replay_as_microseconds(self, monkeypatch):
        seen = {}

        def run_replay(paths, config, as_of, out, err):
            seen["as_of"] = as_of
            return 0

        # The replay module is swapped out: only the argument wiring is under test here.
        monkeypatch.setitem(sys.modules, "streams.replay",
                            types.SimpleNamespace(run_replay=run_replay))
        monkeypatch.delenv("CCPULSE_CONFIG", raising=False)
        assert main(["replay", "-", "--as-of", "2026-11-22T09:15:02.000400Z"]) == 0
        assert seen["as_of"] == 1_795_338_902_000_400


class TestStart:
    @pytest.mark.parametrize(
        ("text", "epoch_ms"),
        [("2026-11-22T09:00:00Z", 1_795_338_000_000),
         ("2026-11-22T10:30:00+01:30", 1_795_338_000_000),
         ("2026-11-22t09:00:00.120z", 1_795_338_000_120),
         ("2026-11-22T09:00:00.1209Z", 1_795_338_000_120),
         ("1969-12-31T23:59:59.9995Z", -1)],
        ids=["utc", "offset", "lower-case", "sub-millisecond-truncated", "before-1970-floors"],
    )
    def test_accepts_any_rfc3339_form_as_epoch_milliseconds(self, text, epoch_ms):
        assert parse_start_ms(text) == epoch_ms

    @pytest.mark.parametrize(("text", "message"), REFUSED, ids=REFUSED_IDS)
    def test_a_bad_value_is_a_one_line_usage_error_with_the_parsers_message(
            self, text, message, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main(["simulate", "--out", "-", "--start", text])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err == (f"Error: argument --start: {message}. Try 'ccpulse simulate --help'.\n")
