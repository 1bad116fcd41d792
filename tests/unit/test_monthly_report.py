"""``ccpulse report --events``: a simulated month equals an independent computation.

The simulator writes 38 days (24 September to 1 November 2026) of the contact centre at a
thirtieth of its demand with a twenty-fifth of its agents and 3 trunks, so every event
family is there, abandons, flow-outs and blocked calls included. The report is for October
2026 in Europe/Lisbon: the month starts at 23:00Z on 30 September and is 745 hours long
(summer time ends on 25 October). Every derivable value of the report (whole centre and per
queue, this month and last month, customers) must equal ``report_reference``'s, which reads
the events as JSON and applies the contract's definitions without the engine.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook
from report_reference import contact_month, customer_month, month_kpis, read_events

from streams.cli import main
from streams.core.report import NOT_DERIVABLE, month_plan
from streams.core.timestamps import format_us, parse_us
from streams.simulate.generator import timed_events
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import WEEKDAY_PROFILE, contact_centre
from streams.simulate.sinks import write_jsonl

ZONE = "Europe/Lisbon"
CONFIG = f'[customers]\ntimezone = "{ZONE}"\n'


def small_centre():
    base = contact_centre()
    profile = IntradayProfile(tuple((h, level / 30) for h, level in WEEKDAY_PROFILE.steps))
    groups = tuple(replace(g, count=max(1, g.count // 25), follows_profile=False)
                   for g in base.agent_groups)
    return replace(base, profile=profile, agent_groups=groups, trunks=3)


def report(tmp: Path, archive: Path, *extra: str) -> dict:
    config = tmp / "ccpulse.toml"
    config.write_text(CONFIG)
    out = tmp / "out"
    assert main(["report", "--month", "2026-10", "--events", str(archive), "--out", str(out),
                 "--config", str(config), "--no-pdf", *extra]) == 0
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("month")
    archive = tmp / "events.jsonl"
    with open(archive, "wb") as f:
        write_jsonl(timed_events(small_centre(), seed=12, start_ms=parse_us(
            "2026-09-24T00:00:00Z") // 1000, duration_ms=38 * 86_400_000), f)
    return tmp, archive, report(tmp, archive), read_events(str(archive))


#: The engine keeps each review's score in millionths (docs/decisions.md, surveys and
#: reviews): a mean of them is within half a millionth of the exact one.
ABS_TOL = {"iqs": 5e-7}


def same(got, want, key: str = "") -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=ABS_TOL.get(key, 1e-9))


def values(doc: dict, scope: str, which: str) -> dict:
    return {row["kpi"]: row[which] for row in doc["scopes"][scope]}


class TestASimulatedMonth:
    def test_the_month_is_octobers_local_midnights_across_the_dst_change(self, month):
        _, _, doc, _ = month
        assert (doc["start"], doc["end"]) == ("2026-09-30T23:00:00Z", "2026-11-01T00:00:00Z")
        assert doc["previous_start"] == "2026-08-31T23:00:00Z"
        assert len(doc["charts"]["days"]) == 31
        starts = [parse_us(d) for d in doc["charts"]["day_starts"]] + [parse_us(doc["end"])]
        hours = {doc["charts"]["days"][i]: (b - a) / 3.6e9
                 for i, (a, b) in enumerate(itertools.pairwise(starts))}
        assert hours["2026-10-25"] == 25 and set(hours.values()) == {24, 25}

    @pytest.mark.parametrize("which", ["this_month", "last_month"])
    def test_every_value_equals_the_independent_computation(self, month, which):
        _, _, doc, events = month
        plan = month_plan("2026-10", ZONE, ZONE)
        start, end = ((plan.start_us, plan.end_us) if which == "this_month"
                      else (plan.previous_start_us, plan.start_us))
        reference = contact_month(events, start, end)
        ever = contact_month(events, -1 << 62, end)
        assert set(doc["queues"]) == {"billing", "overflow", "sales", "support"}
        checked = 0
        for scope in ("centre", *doc["queues"]):
            got = values(doc, scope, which)
            want = month_kpis(reference[scope], ever[scope])
            if scope == "centre":
                want.update(customer_month(events, "2026-10" if which == "this_month"
                                           else "2026-09", ZONE))
            for key, value in want.items():
                assert same(got.get(key), value, key), (
                    f"{scope} {which} {key}: {got.get(key)} != {value}")
                checked += 1
            for key in NOT_DERIVABLE:
                assert got[key] is None
            for key in ("response_time", "fcr_contacts", "fcr_tickets", "replies_per_ticket",
                        "iqs"):  # derivable since they have counters: checked above
                assert key in want
            assert not {k for k in got if k.startswith("requests:")} - set(want)
        assert checked > 150
        centre = values(doc, "centre", which)
        for key in ("blocked_calls", "abandon_ratio", "nps", "csat", "ces", "retention",
                    "clv:EUR", "requests:voice", "requests:email", "response_time",
                    "fcr_contacts", "fcr_tickets", "replies_per_ticket", "iqs"):
            assert centre[key], f"{key} is {centre[key]}: the simulated month proves little"

    def test_the_charts_days_add_up_to_the_month(self, month):
        _, _, doc, events = month
        charts, centre = doc["charts"], values(doc, "centre", "this_month")
        for channel, per_day in charts["requests_by_channel"].items():
            assert sum(per_day) == centre[f"requests:{channel}"]
        day = parse_us(charts["day_starts"][24])  # 25 October, 25 hours
        reference = month_kpis(contact_month(events, day, parse_us(charts["day_starts"][25]))[
            "centre"])
        assert same(charts["csat"][24], reference["csat"])
        assert same(charts["frt"][24], reference["frt"])
        assert sum(charts["tickets_by_category"].values()) == centre["tickets_created"]
        assert charts["months"][-2:] == ["2026-09", "2026-10"]
        assert same(charts["retention"][-1], centre["retention"])

    def test_change_and_verdict_follow_the_direction(self, month):
        _, _, doc, _ = month
        for row in doc["scopes"]["centre"]:
            if row["this_month"] is None or row["last_month"] is None:
                assert row["change"] is None and row["verdict"] is None
                continue
            assert same(row["change"], row["this_month"] - row["last_month"])
        kpis = {k["kpi"]: k for k in doc["kpis"]}
        assert kpis["asa"]["direction"] == "lower" and kpis["csat"]["direction"] == "higher"
        row = next(r for r in doc["scopes"]["centre"] if r["kpi"] == "abandon_ratio")
        assert row["verdict"] == ("better" if row["change"] < 0 else "worse")


class TestOutputs:
    def test_the_html_references_nothing_outside_itself(self, month):
        tmp, _, _, _ = month
        page = (tmp / "out" / "report.html").read_text()
        assert "<svg" in page and "<style>" in page
        for pattern in (r"https?:", r"//", r"\bsrc\s*=", r"\bhref\s*=", r"url\(", r"@import",
                        r"<link", r"<script"):
            assert not re.search(pattern, page, re.I), f"report.html has {pattern}"

    def test_the_xlsx_opens_and_its_cells_equal_the_json(self, month):
        tmp, _, doc, _ = month
        book = load_workbook(tmp / "out" / "report.xlsx")
        assert book.sheetnames == ["Overview", "Charts data", "Formulas"]
        rows = list(book["Overview"].iter_rows(min_row=3, values_only=True))
        expected = [(scope, row) for scope in ("centre", *doc["queues"])
                    for row in doc["scopes"][scope]]
        assert len(rows) == len(expected)
        for cells, (scope, row) in zip(rows, expected, strict=True):
            assert cells[0] == scope and cells[1] == row["name"]
            for cell, value in zip(cells[4:7], (row["this_month"], row["last_month"],
                                                row["change"]), strict=True):
                if value is None:
                    assert cell == "no data"
                else:
                    assert isinstance(cell, int | float) and same(cell, value)
        charts = list(book["Charts data"].iter_rows(min_row=2, max_row=32, values_only=True))
        assert [r[0] for r in charts] == doc["charts"]["days"]
        formulas = list(book["Formulas"].iter_rows(min_row=2, values_only=True))
        assert [r[1] for r in formulas] == [k["formula"] for k in doc["kpis"]]


def test_a_month_without_surveys_says_no_data(tmp_path, month):
    _, archive, _, _ = month
    quiet = tmp_path / "no-surveys.jsonl"
    plan = month_plan("2026-10", ZONE, ZONE)
    with open(archive, "rb") as src, open(quiet, "wb") as dst:
        for line in src:
            if b'"survey.responded"' in line and plan.start_us < parse_us(
                    json.loads(line)["occurred_at"]) <= plan.end_us:
                continue
            dst.write(line)
    doc = report(tmp_path, quiet)
    centre = values(doc, "centre", "this_month")
    assert centre["survey_responses"] == 0
    for key in ("nps", "csat", "ces", "ces_average"):
        assert centre[key] is None
        assert values(doc, "centre", "last_month")[key] is not None
    page = (tmp_path / "out" / "report.html").read_text()
    assert re.search(r"<td>NPS</td><td class=nodata>no data</td>", page)


def test_a_dst_spring_month_has_a_23_hour_day():
    plan = month_plan("2026-03", ZONE, ZONE)
    days = plan.days_us
    lengths = [(b - a) / 3.6e9 for a, b in itertools.pairwise(days)]
    assert len(lengths) == 31 and lengths[28] == 23 and sum(lengths) == 31 * 24 - 1
    assert format_us(plan.start_us) == "2026-03-01T00:00:00Z"
    assert format_us(plan.end_us) == "2026-03-31T23:00:00Z"
