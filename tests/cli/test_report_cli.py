"""``ccpulse report`` as a user runs it: the four files, the PDF pages, one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EVENTS = b"""\
{"event_id":"e1","type":"call.queued","occurred_at":"2026-10-31T23:58:10Z","call_id":"c1","queue":"sales"}
{"event_id":"e2","type":"call.answered","occurred_at":"2026-10-31T23:58:40Z","call_id":"c1","queue":"sales","agent_id":"a1"}
{"event_id":"e3","type":"call.queued","occurred_at":"2026-11-02T10:00:00Z","call_id":"c2","queue":"sales"}
{"event_id":"e4","type":"call.answered","occurred_at":"2026-11-02T10:00:05Z","call_id":"c2","queue":"sales","agent_id":"a1"}
{"event_id":"e5","type":"call.ended","occurred_at":"2026-11-02T10:03:05Z","call_id":"c2","agent_id":"a1"}
{"event_id":"e6","type":"call.wrapup_ended","occurred_at":"2026-11-02T10:04:05Z","call_id":"c2","agent_id":"a1","resolved":true}
{"event_id":"e7","type":"survey.responded","occurred_at":"2026-11-02T11:00:00Z","survey":"csat","score":5,"contact_id":"c2"}
{"event_id":"e8","type":"call.queued","occurred_at":"2026-12-01T00:00:01Z","call_id":"c3","queue":"sales"}
"""


def ccpulse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True,
                          text=True, timeout=180, check=False)


def test_a_month_of_events_becomes_the_four_files(tmp_path: Path):
    archive = tmp_path / "events.jsonl"
    archive.write_bytes(EVENTS)
    out = tmp_path / "report"
    args = ["report", "--month", "2026-11", "--events", str(archive), "--out", str(out),
            "--timezone", "UTC"]
    if shutil.which("chromium") is None:
        args.append("--no-pdf")
    done = ccpulse(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("report: wrote report.json, report.xlsx, "
                                                   "report.html")
    doc = json.loads((out / "report.json").read_text())
    centre = {row["kpi"]: row for row in doc["scopes"]["centre"]}
    assert centre["contacts_offered"]["this_month"] == 1  # c1 is October's, c3 December's
    assert centre["contacts_offered"]["last_month"] == 1
    assert centre["asa"]["this_month"] == 5.0 and centre["asa"]["last_month"] == 30.0
    assert centre["asa"]["verdict"] == "better"
    assert centre["aht"]["this_month"] == 240.0 and centre["aht"]["last_month"] is None
    assert centre["csat"]["this_month"] == 1.0 and centre["nps"]["this_month"] is None
    assert centre["retention"]["this_month"] is None  # no customer events at all
    if shutil.which("chromium"):
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(("args", "message"), [
    (["--month", "2026-13", "--events", "x", "--out", "o"],
     "Error: argument --month: a month is YYYY-MM, e.g. 2026-11, got '2026-13'. Try "
     "'ccpulse report --help'.\n"),
    (["--month", "2026-11", "--out", "o"],
     "Error: one of the arguments --events --prometheus is required. Try 'ccpulse report "
     "--help'.\n"),
    (["--month", "2026-11", "--events", "x", "--prometheus", "http://p", "--out", "o"],
     "Error: argument --prometheus: not allowed with argument --events. Try 'ccpulse report "
     "--help'.\n"),
    (["--month", "2026-11", "--events", "x", "--out", "o", "--timezone", "Mars/Olympus"],
     "Error: argument --timezone: 'Mars/Olympus' is not an IANA time zone (e.g. "
     "Europe/Lisbon, UTC). Try 'ccpulse report --help'.\n"),
], ids=["bad-month", "no-source", "two-sources", "bad-zone"])
def test_usage_errors_are_one_line_and_exit_2(args, message):
    done = ccpulse("report", *args)
    assert (done.returncode, done.stderr) == (2, message)


def test_a_missing_file_is_one_line(tmp_path: Path):
    done = ccpulse("report", "--month", "2026-11", "--events", str(tmp_path / "none.jsonl"),
                   "--out", str(tmp_path / "o"), "--no-pdf")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"Error: cannot read '{tmp_path / 'none.jsonl'}': No such file or directory")


def test_an_unreachable_prometheus_is_one_line(tmp_path: Path):
    done = ccpulse("report", "--month", "2026-11", "--prometheus", "http://127.0.0.1:9",
                   "--out", str(tmp_path / "o"), "--no-pdf")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(
        "Error: cannot reach Prometheus at http://127.0.0.1:9/api/v1/query (")
    assert done.stderr.splitlines()[-1].endswith(
        "); check --prometheus (e.g. http://localhost:9090)")


def test_a_month_the_archive_does_not_reach_is_reported_with_a_warning(tmp_path: Path):
    """A fresh-user trial: a month past the archive's end gave a report of zeros, silently."""
    archive = tmp_path / "events.jsonl"
    archive.write_bytes(EVENTS)
    done = ccpulse("report", "--month", "2027-03", "--events", str(archive), "--out",
                   str(tmp_path / "report"), "--timezone", "UTC", "--no-pdf")
    assert done.returncode == 0, done.stderr
    assert ("report: nothing changed after 2027-03-01: the source may cover only part of the "
            "month (or none of it)") in done.stderr.splitlines()
