"""The Month dashboard (``ccpulse-month``) shows the numbers of ``ccpulse report``.

Four simulated days around a month boundary (30 October to 3 November, UTC, every event
family) are backfilled (``ccpulse backfill --step 1h``) into a real Prometheus; every query of
the dashboard's modules (grafana/dashboards_src/month.py), for the whole centre and per queue,
is asked as Grafana asks it: an instant query at the end of the range with ``${__range_s}``
the range's length. The answers must equal, value for value, ``ccpulse report --events`` of
the same archive:

- "this month": November so far (1 November 00:00 to the last snapshot), which starts on a
  real sample: the ``offset`` branch;
- "last month": October (1 October to 1 November), which starts before the archive: the
  ``or … * 0`` branch, a counter born at 0, as the report counts it.

Left out, and why: the backlog at the end of November so far (the report reads it at 1
December, when every open ticket has aged a month), the customer KPIs of October (at the
instant 1 November 00:00 the customers' ``month`` window has already rolled; Grafana's
"Previous month" ends 1 ms before), and the tiles the report has no row for.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from prometheus_harness import HistoryPrometheus, require_binary
from worker_harness import free_port

from grafana.dashboards_src import month
from grafana.queries import substitute
from streams.core.timestamps import parse_us
from streams.simulate.generator import timed_events
from streams.simulate.scenarios import contact_centre
from streams.simulate.sinks import write_jsonl

COMMAND_TIMEOUT_S = 600
START = "2026-10-30T00:00:00Z"
DAYS = 4
NOVEMBER_S = parse_us("2026-11-01T00:00:00Z") / 1e6
OCTOBER_S = parse_us("2026-10-01T00:00:00Z") / 1e6

#: Dashboard tile -> report row (``report.json`` ``kpi``); None: the report has no such row.
REPORT_ROW = {
    "Workers at the start": None, "Requests": "requests_total",
    "Offered": "contacts_offered", "Answered": None,
    "Handled": "contacts_handled", "Blocked calls": "blocked_calls",
    "Service level": "service_level", "Average speed of answer": "asa",
    "Abandon ratio": "abandon_ratio", "Average handle time": "aht",
    "First contact resolution": "fcr_contacts", "Average response time": "response_time",
    "Ticket first contact resolution": "fcr_tickets", "Replies per ticket": "replies_per_ticket",
    "IQS": "iqs",
    "Tickets created": "tickets_created", "Tickets solved": "tickets_solved",
    "Open at the end": "open_tickets", "Backlog at the end": "backlog",
    "First response time": "frt", "Resolution time": "resolution_time",
    "Resolution ratio": "resolution_ratio", "Tickets reopened": "reopened",
    "First response, business hours": "frt_business",
    "Resolution, business hours": "resolution_time_business",
    "CSAT": "csat", "NPS": "nps", "CES": "ces", "Survey responses": "survey_responses",
    "QA reviews": "qa_reviews", "Customers at the start": None, "Customers acquired": None,
    "Customers lost": None, "Customers at the end": None, "Retention": "retention",
    "Churn": "churn", "Referral": "referral_ratio", "Engagement": "engagement",
    "Acquisition cost": "cac",
}
CUSTOMERS = {kpi.title for kpi in month.customers()}


def run_together(*commands: tuple[str, ...]) -> None:
    """Run ``ccpulse`` commands at once (a core each) and wait for all; each must exit 0."""
    with ExitStack() as stack:
        started = []
        try:
            for args in commands:
                err = stack.enter_context(tempfile.TemporaryFile())
                started.append((args, err, subprocess.Popen(
                    [sys.executable, "-m", "streams.cli", *args],
                    stdout=subprocess.DEVNULL, stderr=err)))
            for args, err, proc in started:
                proc.wait(timeout=COMMAND_TIMEOUT_S)
                err.seek(0)
                assert proc.returncode == 0, \
                    f"ccpulse {args[0]} exited {proc.returncode}:\n{err.read().decode()}"
        finally:  # a failure leaves no command running into the next tests
            for _, _, proc in started:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


def test_the_month_dashboard_shows_the_reports_numbers(tmp_path: Path) -> None:
    promtool = require_binary("PROMTOOL", "promtool")
    assert set(REPORT_ROW) == {kpi.title for _, kpis in month.SECTIONS for kpi in kpis()}, \
        "a tile without its report row: add it to REPORT_ROW"
    archive = tmp_path / "events.jsonl"
    with open(archive, "wb") as out:
        write_jsonl(timed_events(contact_centre(), seed=20261101,
                                 start_ms=parse_us(START) // 1000,
                                 duration_ms=DAYS * 86_400_000), out)
    run_together(("report", "--month", "2026-11", "--events", str(archive), "--timezone", "UTC",
                  "--out", str(tmp_path / "report"), "--no-pdf"),
                 ("backfill", str(archive), "--out", str(tmp_path / "om"), "--step", "1h"))
    prom = HistoryPrometheus(tmp_path / "prom", free_port())
    prom.import_openmetrics(promtool, sorted((tmp_path / "om").glob("ccpulse-*.om")),
                            COMMAND_TIMEOUT_S)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    rows = {scope: {row["kpi"]: row for row in scope_rows}
            for scope, scope_rows in report["scopes"].items()}
    this_end = NOVEMBER_S + 2 * 86400  # the backfill's last step boundary (the archive's end)
    periods = {"this_month": (this_end, this_end - NOVEMBER_S),
               "last_month": (NOVEMBER_S, NOVEMBER_S - OCTOBER_S)}
    compared, differ = 0, []
    prom.start()
    try:
        for period, (at, range_s) in periods.items():
            values = {"queue": ".*", "__range_s": str(int(range_s))}
            for _, kpis in month.SECTIONS:
                for kpi in kpis():
                    key = REPORT_ROW[kpi.title]
                    if key is None or (period, kpi.title) == ("this_month", "Backlog at the end") \
                            or (period == "last_month" and kpi.title in CUSTOMERS):
                        continue
                    scopes = ["centre"] + ([] if kpi.title in CUSTOMERS or kpi.title not in
                                           month.PER_QUEUE else report["queues"])
                    for scope in scopes:
                        by = "" if scope == "centre" else "queue"
                        result = prom.query(substitute(kpi.expr(month.QUEUE, by), values), at)
                        got = {s.labels.get("queue") or s.labels.get("currency"): s.value
                               for s in result}
                        if key == "cac":
                            want = {k[4:]: r[period] for k, r in rows[scope].items()
                                    if k.startswith("cac:")}
                        else:
                            want = {scope if by else None: rows[scope][key][period]}
                            got = {k: v for k, v in got.items() if k == (scope if by else None)}
                        for k in want.keys() | got.keys():
                            compared += 1
                            if not close(got.get(k), want.get(k)):
                                differ.append((period, scope, kpi.title, k, got.get(k),
                                               want.get(k)))
        workers = substitute(month.history()[0].expr(month.QUEUE, ""), {"__range_s": "86400"})
        assert [s.value for s in prom.query(workers, this_end)] == [1]
        assert [s.value for s in prom.query(workers, this_end + 40 * 86400)] == [0]
    finally:
        prom.stop()
    assert not differ, f"{len(differ)} of {compared} values differ: {differ[:10]}"
    assert compared > 100
    centre = rows["centre"]
    assert centre["blocked_calls"]["this_month"] and centre["nps"]["last_month"] is not None
