"""``ccpulse simulate`` and ``ccpulse produce`` from the command line (no broker needed)."""

from __future__ import annotations

import argparse

import orjson
import pytest

from streams.cli import main
from streams.simulate import contact_centre, generate
from streams.simulate.cli import parse_duration_ms

START = "2026-11-22T09:00:00Z"
START_MS = 1_795_338_000_000


class TestDurations:
    @pytest.mark.parametrize(
        ("text", "ms"),
        [("600", 600_000), ("45s", 45_000), ("30m", 1_800_000), ("2h", 7_200_000),
         ("1h30m", 5_400_000), ("1d", 86_400_000), ("1.5h", 5_400_000), ("2H", 7_200_000)],
        ids=["plain-seconds", "seconds", "minutes", "hours", "hours-and-minutes", "day",
             "fractional", "upper-case"],
    )
    def test_reads_planner_style_durations(self, text, ms):
        assert parse_duration_ms(text) == ms

    @pytest.mark.parametrize("text", ["", "10x", "m", "0", "-5m", "h1"],
                             ids=["empty", "bad-unit", "no-number", "zero", "negative",
                                  "unit-first"])
    def test_refuses_anything_else(self, text):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_duration_ms(text)


class TestSimulateToFile:
    def test_writes_the_seeded_run_as_json_lines_and_reports_on_stderr(self, tmp_path, capsys):
        out = tmp_path / "events.jsonl"
        status = main(["simulate", "--duration", "10m", "--seed", "3", "--start", START,
                       "--out", str(out)])
        assert status == 0
        expected = list(generate(contact_centre(), seed=3, start_ms=START_MS,
                                 duration_ms=600_000))
        assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == expected
        err = capsys.readouterr().err.splitlines()
        assert err[0] == (f"simulate: seed 3 · 2026-11-22T09:00:00.000Z → "
                          f"2026-11-22T09:10:00.000Z · to {out}")
        assert err[-1].startswith(f"simulate: wrote {len(expected):,} events to {out} in ")

    def test_a_file_run_without_start_ends_now_so_nothing_is_in_the_future(self, tmp_path):
        import time

        out = tmp_path / "events.jsonl"
        assert main(["simulate", "--duration", "5m", "--seed", "1", "--out", str(out)]) == 0
        last = orjson.loads(out.read_bytes().splitlines()[-1])["occurred_at"]
        assert last <= time.strftime("%Y-%m-%dT%H:%M:%S.999Z", time.gmtime())

    def test_an_unwritable_file_is_a_one_line_error(self, tmp_path, capsys):
        target = tmp_path / "missing" / "events.jsonl"
        assert main(["simulate", "--duration", "1m", "--out", str(target), "--seed", "1"]) == 1
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"Error: cannot write {str(target)!r}: No such file or directory. Choose another "
            "--out file or create its directory.")

    @pytest.mark.parametrize(
        ("argv", "message"),
        [(["--duration", "soon"], "'soon' is not a duration"),
         (["--speed", "0"], "speed must be a number > 0"),
         (["--start", "2026-11-22T09:00:00"], "has no UTC offset")],
        ids=["bad-duration", "zero-speed", "naive-start"],
    )
    def test_bad_options_are_usage_errors(self, argv, message, capsys):
        with pytest.raises(SystemExit) as exit_info:
            main(["simulate", "--out", "-", *argv])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


class TestProduceErrors:
    def test_an_unreadable_file_sends_nothing_and_says_so(self, tmp_path, capsys):
        good = tmp_path / "good.jsonl"
        good.write_text("{}\n")
        missing = tmp_path / "nope.jsonl"
        assert main(["produce", str(good), str(missing), "--broker", "127.0.0.1:1"]) == 1
        assert capsys.readouterr().err == (
            f"Error: cannot read {str(missing)!r}: No such file or directory; nothing was "
            "sent\n")

    def test_an_unreachable_broker_is_a_one_line_error_with_what_to_do(self, tmp_path, capsys):
        events = tmp_path / "events.jsonl"
        events.write_text('{"type":"call.queued","call_id":"c"}\n')
        assert main(["produce", str(events), "--broker", "127.0.0.1:1"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("Error: could not connect to Kafka at 127.0.0.1:1 (")
        assert err.count("KafkaConnectionError") == 1  # aiokafka's text names it already
        assert "AddressFamily" not in err
        assert err.endswith("Is it running, and is that the right address? (The local broker "
                            "starts with `ccpulse kafka start`; another is set with --broker "
                            "or CCPULSE_BROKER.)\n")
        assert err.count("\n") == 1
