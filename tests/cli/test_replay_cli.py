"""``ccpulse replay`` as a user runs it: output, stderr reports, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EVENTS = b"""\
{"event_id":"e1","type":"call.queued","occurred_at":"2026-11-22T09:00:00Z","call_id":"c1","queue":"sales"}
{"event_id":"e2","type":"call.answered","occurred_at":"2026-11-22T09:00:12Z","call_id":"c1","queue":"sales","agent_id":"a1"}
this line is not json
{"event_id":"e3","type":"call.queued","occurred_at":"2026-11-22T09:01:00Z","call_id":"c2","queue":"sales"}
{"event_id":"e3","type":"call.queued","occurred_at":"2026-11-22T09:01:00Z","call_id":"c2","queue":"sales"}
{"event_id":"e4","type":"call.abandoned","occurred_at":"2026-11-22T09:01:03Z","call_id":"c2","queue":"sales"}
"""


def ccpulse(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)


def test_replay_prints_the_exposition_and_reports_bad_lines(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(EVENTS)
    done = ccpulse("replay", str(path), "--as-of", "2026-11-22T09:05:00Z")
    assert done.returncode == 0
    out = done.stdout.decode().splitlines()
    assert 'cc_contacts_offered_total{channel="voice",queue="sales"} 2.0' in out
    assert 'cc_contacts_answered_total{channel="voice",queue="sales"} 1.0' in out
    assert 'cc_contacts_short_abandoned_total{channel="voice",queue="sales"} 1.0' in out
    assert ('cc_average_speed_of_answer_seconds{channel="voice",queue="sales",window="interval"} '
            '12.0') in out
    assert 'cc_contact_wait_seconds_bucket{channel="voice",le="20.0",outcome="answered",' \
           'queue="sales"} 1.0' in out
    assert 'cc_events_duplicate_total{topic="cc.calls"} 1.0' in out
    assert 'cc_events_invalid_total{reason="not_json",topic="unknown"} 1.0' in out
    assert not any(line.startswith("cc_") and "_created" in line for line in out)
    assert done.stderr.decode().startswith(f"{path}:3: ")


def test_replay_reads_standard_input_and_defaults_the_clock_to_the_newest_event():
    done = ccpulse("replay", "-", stdin=EVENTS)
    assert done.returncode == 0
    # clock = 09:01:03, so nothing waits: c1 answered, c2 abandoned
    assert 'cc_queue_contacts_waiting{channel="voice",queue="sales"} 0.0' in \
        done.stdout.decode().splitlines()


def test_unreadable_file_is_a_one_line_error(tmp_path: Path):
    done = ccpulse("replay", str(tmp_path / "missing.jsonl"))
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"Error: cannot read '{tmp_path / 'missing.jsonl'}': No such file or directory\n")


def test_invalid_config_names_the_key(tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text('[defaults]\ninterval_minutes = 20\n')
    path = tmp_path / "e.jsonl"
    path.write_bytes(EVENTS)
    done = ccpulse("replay", str(path), "--config", str(config))
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"Error: config file '{config}': defaults.interval_minutes must be 15, 30 or 60, "
        "got 20\n")


def test_bad_as_of_is_a_usage_error():
    done = ccpulse("replay", "-", "--as-of", "yesterday", stdin=b"")
    assert done.returncode == 2
    assert "is not an RFC 3339 timestamp" in done.stderr.decode()


def test_replay_of_a_simulated_day_passes_promtool_lint(tmp_path: Path):
    import os
    import shutil

    import pytest

    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing; deploy/setup.sh installs Debian's prometheus")
        pytest.skip("promtool is not installed (deploy/setup.sh installs it)")
    events = tmp_path / "day.jsonl"
    made = ccpulse("simulate", "--duration", "2h", "--seed", "3", "--out", str(events))
    assert made.returncode == 0, made.stderr.decode()
    done = ccpulse("replay", str(events))
    assert done.returncode == 0
    assert [line for line in done.stderr.decode().splitlines()
            if not line.startswith("replay: read ")] == []
    lint = subprocess.run([promtool, "check", "metrics"], input=done.stdout,
                          capture_output=True, timeout=60, check=False)
    problems = [line for line in (lint.stdout + lint.stderr).decode().splitlines() if line]
    # contract §4 names the windowed sums of ASA/AHT/chat response `…_seconds_sum`; promtool's
    # lint reserves `_sum` for histograms. Those three (and only those) are accepted.
    spec_named = {f"{name} non-histogram and non-summary metrics should not have \"_sum\" suffix"
                  for name in ("cc_window_contact_wait_seconds_sum",
                               "cc_window_contact_handle_seconds_sum",
                               "cc_window_chat_response_seconds_sum")}
    assert set(problems) <= spec_named, "\n".join(problems)


class TestReplayReport:
    """What standard error tells the user: capped problem lines and one summary line."""

    def test_ends_with_one_summary_line(self, tmp_path: Path):
        path = tmp_path / "events.jsonl"
        path.write_bytes(EVENTS)
        done = ccpulse("replay", str(path), "--as-of", "2026-11-22T09:01:00Z")
        assert done.returncode == 0
        err = done.stderr.decode().splitlines()
        assert err[1:] == [
            "1 event after --as-of 2026-11-22T09:01:00Z left out (it had not happened yet)",
            "replay: read 6 · applied 3 · invalid 1 · duplicates 1 · late 0 · "
            "after --as-of 1",
        ]

    def test_prints_the_first_twenty_problems_and_counts_the_rest(self, tmp_path: Path):
        path = tmp_path / "events.jsonl"
        path.write_bytes(EVENTS + b"not json either\n" * 25)
        done = ccpulse("replay", str(path))
        assert done.returncode == 0
        err = done.stderr.decode().splitlines()
        assert len(err) == 22
        assert [line.split(":")[1] for line in err[:20]] == ["3", *map(str, range(7, 26))]
        assert err[20] == "… and 6 more problem lines not shown"
        assert err[21] == "replay: read 31 · applied 4 · invalid 26 · duplicates 1 · late 0"

    def test_as_of_before_a_long_file_is_one_line_not_one_per_event(self, tmp_path: Path):
        events = tmp_path / "hour.jsonl"
        made = ccpulse("simulate", "--duration", "1h", "--seed", "5", "--start",
                       "2026-11-22T09:00:00Z", "--out", str(events))
        assert made.returncode == 0, made.stderr.decode()
        done = ccpulse("replay", str(events), "--as-of", "2026-11-22T09:10:00Z")
        assert done.returncode == 0
        err = done.stderr.decode().splitlines()
        assert len(err) == 2, err[:5]
        assert err[0].endswith("after --as-of 2026-11-22T09:10:00Z left out (they had not "
                               "happened yet)")

    def test_a_file_without_any_valid_event_fails_in_one_line(self, tmp_path: Path):
        good = tmp_path / "good.jsonl"
        good.write_bytes(EVENTS)
        wrong = tmp_path / "wrong.csv"
        wrong.write_bytes(b"queue,calls\nsales,3\n")
        done = ccpulse("replay", str(good), str(wrong))
        assert done.returncode == 1
        assert done.stdout == b""
        assert done.stderr.decode().splitlines()[-1] == (
            f"Error: '{wrong}' holds no valid event at all (see the problems above); check "
            "that it is a JSON-lines event file")
