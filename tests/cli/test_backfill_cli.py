"""``ccpulse backfill`` as a user runs it: day files, the summary, one-line errors."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

EVENTS = b"""\
{"event_id":"e1","type":"call.queued","occurred_at":"2026-11-22T23:58:10Z","call_id":"c1","queue":"sales"}
{"event_id":"e2","type":"call.answered","occurred_at":"2026-11-22T23:58:40Z","call_id":"c1","queue":"sales","agent_id":"a1"}
this line is not json
{"event_id":"e3","type":"call.queued","occurred_at":"2026-11-23T00:00:30Z","call_id":"c2","queue":"sales"}
"""


def ccpulse(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], input=stdin,
                          capture_output=True, timeout=60, check=False)


def test_a_gzip_archive_becomes_one_file_per_day_and_a_summary(tmp_path: Path):
    archive = tmp_path / "events.jsonl.gz"
    archive.write_bytes(gzip.compress(EVENTS))
    out = tmp_path / "om"
    done = ccpulse("backfill", str(archive), "--out", str(out), "--step", "1m")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ccpulse-2026-11-22.om",
                                                     "ccpulse-2026-11-23.om"]
    err = done.stderr.decode().splitlines()
    assert err[0].startswith(f"{archive}:3: ")
    assert err[1] == ("backfill: 3 snapshots (2026-11-22T23:59:00Z → 2026-11-23T00:01:00Z) · "
                      "read 4 · invalid 1 · behind 0")
    day2 = (out / "ccpulse-2026-11-23.om").read_text()
    assert 'cc_contacts_offered_total{channel="voice",queue="sales"} 2.0 1795392060\n' in day2
    assert 'cc_contacts_offered_total{channel="voice",queue="sales"} 1.0 1795392000\n' in day2
    assert day2.endswith("# EOF\n")


def test_standard_input_is_read_too(tmp_path: Path):
    done = ccpulse("backfill", "-", "--out", str(tmp_path), "--step", "1h", stdin=EVENTS)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["ccpulse-2026-11-23.om"]


def test_a_missing_file_is_a_one_line_error(tmp_path: Path):
    done = ccpulse("backfill", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o"))
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"Error: cannot read '{tmp_path / 'missing.jsonl'}': No such file or directory\n")


def test_an_empty_archive_is_an_error_and_writes_nothing(tmp_path: Path):
    archive = tmp_path / "empty.jsonl"
    archive.write_bytes(b"")
    out = tmp_path / "o"
    done = ccpulse("backfill", str(archive), "--out", str(out))
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[-1] == (
        f"Error: '{archive}' holds no valid event at all; check that it is a JSON-lines event "
        "file")
    assert list(out.iterdir()) == []


def test_a_step_that_is_not_whole_seconds_is_a_usage_error(tmp_path: Path):
    done = ccpulse("backfill", "x.jsonl", "--out", str(tmp_path), "--step", "1.5s")
    assert done.returncode == 2
    assert done.stderr.decode() == ("Error: argument --step: the step is a whole number of "
                                    "seconds, got '1.5s'. Try 'ccpulse backfill --help'.\n")


def test_a_truncated_gzip_file_is_a_one_line_error(tmp_path: Path):
    archive = tmp_path / "cut.gz"
    archive.write_bytes(gzip.compress(EVENTS * 50)[:200])
    done = ccpulse("backfill", str(archive), "--out", str(tmp_path / "o"))
    assert done.returncode == 1
    assert done.stderr.decode().startswith(f"Error: cannot read '{archive}' after line ")
