"""``ccpulse report --prometheus`` gives the numbers of ``ccpulse report --events``.

The simulated October of ``test_monthly_report`` (38 days from 24 September, Europe/Lisbon,
every event family) is backfilled with ``ccpulse backfill --step 1h`` (Lisbon's midnights
are whole UTC hours, so every boundary of the report has its sample), imported with
``promtool tsdb create-blocks-from openmetrics`` and served by a real ``prometheus``. The
report from that Prometheus (one ``{…}[60s] @ T`` query per boundary) must equal the report
from the events: every value of every scope, this month and last, and every chart point.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from prometheus_harness import HistoryPrometheus, require_binary
from worker_harness import free_port

from streams.core.timestamps import parse_us
from streams.simulate.generator import timed_events
from streams.simulate.model import IntradayProfile, Scenario
from streams.simulate.scenarios import WEEKDAY_PROFILE, contact_centre
from streams.simulate.sinks import write_jsonl

ZONE = "Europe/Lisbon"
COMMAND_TIMEOUT_S = 600


def small_centre() -> Scenario:
    """As tests/unit/test_monthly_report.py's: a thirtieth of the demand, a twenty-fifth of
    the agents, 3 trunks (abandons, flow-outs and blocked calls)."""
    base = contact_centre()
    profile = IntradayProfile(tuple((h, level / 30) for h, level in WEEKDAY_PROFILE.steps))
    groups = tuple(replace(g, count=max(1, g.count // 25), follows_profile=False)
                   for g in base.agent_groups)
    return replace(base, profile=profile, agent_groups=groups, trunks=3)


def ccpulse(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "streams.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes]) -> str:
    _, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{err.decode()}"
    return err.decode()


def same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def test_prometheus_and_events_give_the_same_report(tmp_path: Path):
    promtool = require_binary("PROMTOOL", "promtool")
    archive = tmp_path / "events.jsonl"
    with open(archive, "wb") as out:
        write_jsonl(timed_events(small_centre(), seed=12, start_ms=parse_us(
            "2026-09-24T00:00:00Z") // 1000, duration_ms=38 * 86_400_000), out)
    config = tmp_path / "ccpulse.toml"
    config.write_text(f'[customers]\ntimezone = "{ZONE}"\n')
    common = ("--month", "2026-10", "--config", str(config), "--no-pdf")
    by_events = ccpulse("report", *common, "--events", str(archive),
                        "--out", str(tmp_path / "events"))
    backfill = ccpulse("backfill", str(archive), "--out", str(tmp_path / "om"), "--step", "1h",
                       "--config", str(config))
    finish(backfill)
    finish(by_events)
    prom = HistoryPrometheus(tmp_path / "prom", free_port())
    prom.import_openmetrics(promtool, sorted((tmp_path / "om").glob("ccpulse-*.om")),
                            COMMAND_TIMEOUT_S)
    prom.start()
    try:
        err = finish(ccpulse("report", *common, "--prometheus", prom.url,
                             "--out", str(tmp_path / "prometheus")))
    finally:
        prom.stop()
    assert "instants read from Prometheus" in err
    want = json.loads((tmp_path / "events" / "report.json").read_text())
    got = json.loads((tmp_path / "prometheus" / "report.json").read_text())
    assert got["source"].startswith("Prometheus") and want["source"].startswith("events")
    for part in ("month", "start", "end", "queues", "kpis"):
        assert got[part] == want[part], part
    for scope, rows in want["scopes"].items():
        differ = [(w["kpi"], g, w) for g, w in zip(got["scopes"][scope], rows, strict=True)
                  if not same(g, w)]
        assert not differ, f"{scope}: {differ[:3]}"
    for name, series in want["charts"].items():
        assert same(got["charts"][name], series), name
    centre = {row["kpi"]: row["this_month"] for row in got["scopes"]["centre"]}
    assert centre["blocked_calls"] and centre["retention"] and centre["nps"] is not None
