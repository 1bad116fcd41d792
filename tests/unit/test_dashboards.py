"""The Grafana dashboards: generated, committed, and built only on the metrics contract §4 promises.

Reads the committed JSON (what Grafana is provisioned with) and checks it against the code that
generates it, the metric contract and PromQL syntax (``promtool check rules``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `grafana/` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO))

from grafana import generate, queries  # noqa: E402
from grafana.dashboards_src import month, tickets, wallboard  # noqa: E402
from streams.core.metrics import CATALOGUE, COMPOSITE_PARTS, RATIO_PARTS  # noqa: E402

DASHBOARDS_DIR = REPO / "grafana" / "dashboards"
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
DASHBOARDS = {
    path.stem: json.loads(path.read_text(encoding="utf-8"))
    for path in sorted(DASHBOARDS_DIR.glob("*.json"))
}

# contract §4, the metric names dashboards and alerts may use: the catalogue of every family.
SPEC_METRICS = frozenset(spec.name for spec in CATALOGUE if spec.kind != "histogram")
SPEC_HISTOGRAMS = frozenset(spec.name for spec in CATALOGUE if spec.kind == "histogram")
# A worker's own windowed ratios, averages and scores: the ratio of the partitions it owns, not
# the queue's. Panels read the fleet-wide recording rules (sum of numerators / sum of
# denominators over the workers) instead; max or avg of these over workers is wrong.
PER_WORKER_RATIOS = frozenset(
    [
        *RATIO_PARTS,
        *COMPOSITE_PARTS,
        "cc_customer_acquisition_cost",
        "cc_customer_lifetime_value",
        "cc_customer_interactions_per_customer",
    ]
)
# Configuration, the same on every worker: read through its recording rule (a max by).
SERVICE_LEVEL_TARGET = "cc_service_level_target_ratio"
# Series Prometheus itself writes for every scrape target.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def recording_rules() -> frozenset[str]:
    """Names recorded by deploy/prometheus/rules/*.yml (none while that folder is absent)."""
    names = set()
    for path in sorted(RULES_DIR.glob("*.y*ml")) if RULES_DIR.is_dir() else []:
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
            names.update(rule["record"] for rule in group.get("rules", []) if "record" in rule)
    return frozenset(names)


def allowed_metrics() -> frozenset[str]:
    histogram_series = {
        f"{name}{suffix}" for name in SPEC_HISTOGRAMS for suffix in ("_bucket", "_count", "_sum")
    }
    return SPEC_METRICS | histogram_series | PROMETHEUS_SERIES | recording_rules()


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "nan",
        "inf",
    ]
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels and keywords left out)."""
    bare = _STRING.sub('""', expr)
    bare = _LABEL_LIST.sub("", _RANGE.sub("", _MATCHERS.sub("", bare)))
    return {name for name in _IDENTIFIER.findall(bare) if name.lower() not in _KEYWORDS}


def all_panels():
    for uid, dashboard in DASHBOARDS.items():
        for panel in queries.panels(dashboard):
            yield uid, panel


def raw_targets():
    for uid, panel in all_panels():
        for target in panel.get("targets") or []:
            yield uid, panel["title"], target


def test_the_five_dashboards_are_committed():
    assert {
        "ccpulse-wallboard",
        "ccpulse-queue",
        "ccpulse-agents",
        "ccpulse-tickets",
        "ccpulse-pipeline",
    } <= set(DASHBOARDS)


class TestGeneration:
    def test_regenerating_gives_byte_identical_files(self, tmp_path):
        written = generate.write(tmp_path)

        assert sorted(path.name for path in written) == sorted(
            path.name for path in DASHBOARDS_DIR.glob("*.json")
        )
        for path in written:
            committed = (DASHBOARDS_DIR / path.name).read_bytes()
            assert path.read_bytes() == committed, (
                f"{path.name} is stale: run .venv/bin/python -m grafana.generate"
            )

    def test_output_is_sorted_two_space_json_with_a_trailing_newline(self):
        for path in DASHBOARDS_DIR.glob("*.json"):
            text = path.read_text(encoding="utf-8")
            assert text == generate.render(DASHBOARDS[path.stem])

    def test_check_mode_reports_a_stale_and_a_stray_file(self, tmp_path, capsys):
        generate.write(tmp_path)
        (tmp_path / "ccpulse-queue.json").write_text("{}\n", encoding="utf-8")
        (tmp_path / "old.json").write_text("{}\n", encoding="utf-8")

        assert generate.main(["--check", "--out", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "ccpulse-queue.json differs" in err
        assert "old.json is not generated" in err
        assert generate.main(["--check"]) == 0


class TestDashboardModel:
    @pytest.mark.parametrize("uid", sorted(DASHBOARDS))
    def test_has_identity_refresh_schema_and_tags(self, uid):
        dashboard = DASHBOARDS[uid]

        assert dashboard["uid"] == uid
        assert dashboard["title"].startswith("ccpulse - ")
        assert re.fullmatch(r"\d+[smh]", dashboard["refresh"])
        assert dashboard["schemaVersion"] == 41
        assert dashboard["tags"][0] == "ccpulse" and len(dashboard["tags"]) >= 2
        assert dashboard["timezone"] == "browser"

    def test_every_panel_queries_the_prometheus_data_source(self):
        for uid, panel in all_panels():
            where = f"{uid} / {panel.get('title')}"
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, where
            exprs = [target.get("expr") for target in panel.get("targets") or []]
            assert exprs and all(exprs), f"{where} has no query"
        for uid, title, target in raw_targets():
            assert target["datasource"]["uid"] == "prometheus", f"{uid} / {title}"

    def test_panel_ids_and_titles_are_unique_per_dashboard(self):
        for uid, dashboard in DASHBOARDS.items():
            ids = [panel["id"] for panel in dashboard["panels"]]
            titles = [panel["title"] for panel in queries.panels(dashboard)]
            assert len(ids) == len(set(ids)), uid
            assert len(titles) == len(set(titles)), uid

    def test_panels_fit_the_grid_without_overlapping(self):
        for uid, dashboard in DASHBOARDS.items():
            boxes = [(panel["title"], panel["gridPos"]) for panel in dashboard["panels"]]
            for title, box in boxes:
                assert box["x"] >= 0 and box["x"] + box["w"] <= 24, f"{uid} / {title}"
            for (title_a, a), (title_b, b) in combinations(boxes, 2):
                apart = (
                    a["x"] + a["w"] <= b["x"]
                    or b["x"] + b["w"] <= a["x"]
                    or a["y"] + a["h"] <= b["y"]
                    or b["y"] + b["h"] <= a["y"]
                )
                assert apart, f"{uid}: {title_a!r} overlaps {title_b!r}"

    def test_template_variables_are_only_matched_as_regexes(self):
        # "All" is the regex .*, and a multi-value selection is a|b: `=` would match nothing.
        for uid, title, target in raw_targets():
            for label, op in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"\$', target["expr"]):
                if label != "le":
                    assert op == "=~", f"{uid} / {title}: {label}{op}$... in {target['expr']}"


class TestWallboard:
    def test_refreshes_every_5_to_10_seconds(self):
        refresh = DASHBOARDS[wallboard.UID]["refresh"]
        assert refresh.endswith("s") and 5 <= int(refresh[:-1]) <= 10

    def test_has_a_data_freshness_panel(self):
        exprs = [
            target["expr"]
            for panel in queries.panels(DASHBOARDS[wallboard.UID])
            if panel["title"] == wallboard.FRESHNESS_TITLE
            for target in panel["targets"]
        ]
        assert len(exprs) == 1
        assert "time() - max(cc_last_event_timestamp_seconds)" in exprs[0]

    def test_tiles_are_big_coloured_numbers_without_legends(self):
        for panel in queries.panels(DASHBOARDS[wallboard.UID]):
            assert panel["type"] == "stat", panel["title"]
            assert panel["options"]["colorMode"] == "background", panel["title"]
            assert panel["options"]["graphMode"] == "none", panel["title"]
            assert all(target["instant"] for target in panel["targets"]), panel["title"]

    def test_one_row_per_queue(self):
        rows = [p for p in DASHBOARDS[wallboard.UID]["panels"] if p["type"] == "row"]
        assert [row.get("repeat") for row in rows] == ["queue"]

    def test_service_level_is_coloured_against_the_exported_target(self):
        panel = next(
            p for p in queries.panels(DASHBOARDS[wallboard.UID]) if p["title"] == "SL today"
        )
        colours = {
            override["matcher"]["options"]: override["properties"][0]["value"]["fixedColor"]
            for override in panel["fieldConfig"]["overrides"]
        }
        assert colours == {"A": "green", "B": "orange", "C": "red", "D": "blue"}
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names == {
                "queue_channel_window:cc_service_level:ratio",
                "queue_channel_window:cc_service_level_target:ratio",
            }, target["expr"]


class TestMetricNames:
    @pytest.mark.parametrize(
        ("expr", "names"),
        [
            ('sum by (channel) (rate(cc_x_total{queue=~"$q"}[5m]))', {"cc_x_total"}),
            (
                "time() - max(cc_last_event_timestamp_seconds) or vector(NaN)",
                {"cc_last_event_timestamp_seconds"},
            ),
            ("a and on (queue) (b - c >= -0.05) unless d offset 5m", {"a", "b", "c", "d"}),
            ('histogram_quantile(0.9, sum by (le) (rate(h_bucket{le="20.0"}[1m])))', {"h_bucket"}),
            ("topk(10, max by (topic, partition) (lag)) * 1e3", {"lag"}),
        ],
        ids=["rate-grouped", "functions-and-nan", "set-operators", "quantile", "topk-exponent"],
    )
    def test_parser_finds_exactly_the_metrics(self, expr, names):
        assert metric_names(expr) == names

    def test_every_expression_uses_only_contract_metrics(self):
        allowed = allowed_metrics()
        for uid, title, expr in queries.all_panel_queries():
            unknown = metric_names(expr) - allowed
            assert not unknown, f"{uid} / {title}: {sorted(unknown)} not in contract §4 in {expr}"

    def test_no_panel_reads_a_per_worker_windowed_ratio(self):
        # Each worker's ratio covers its own partitions: panels use the fleet recording rules.
        for uid, title, expr in queries.all_panel_queries():
            used = metric_names(expr) & (PER_WORKER_RATIOS | {SERVICE_LEVEL_TARGET})
            assert not used, f"{uid} / {title}: {sorted(used)} in {expr}; use the fleet rules"

    def test_the_windowed_ratio_panels_read_the_fleet_rules(self):
        rules = recording_rules()
        used = {
            name
            for _, _, expr in queries.all_panel_queries()
            for name in metric_names(expr)
            if ":" in name
        }
        assert used <= rules, f"panels read rules that do not exist: {sorted(used - rules)}"
        assert {
            "queue_channel_window:cc_service_level:ratio",
            "queue_channel_window:cc_service_level_target:ratio",
            "queue_channel_window:cc_average_speed_of_answer:seconds",
            "queue_channel_window:cc_abandon:ratio",
            "queue_channel_window:cc_average_handle_time:seconds",
            "queue_channel_window:cc_first_contact_resolution:ratio",
            "queue_window:cc_occupancy:ratio",
        } <= used

    def test_histogram_buckets_are_matched_in_the_exported_float_form(self):
        # prometheus-client renders le="20.0"; le="20" would match no series at all.
        float_or_inf = re.compile(r"\d+\.\d+|\+Inf")
        for uid, title, expr in queries.all_panel_queries():
            for value in re.findall(r'\ble\s*=~?\s*"([^"]*)"', expr):
                assert float_or_inf.fullmatch(value), f'{uid} / {title}: le="{value}" in {expr}'

    def test_threshold_variable_defaults_to_the_20_second_bucket(self):
        values = queries.variable_values(DASHBOARDS["ccpulse-queue"])
        assert values["threshold"] == "20.0"


class TestQueriesHelper:
    def test_lists_every_target_with_no_variable_left(self):
        found = queries.all_panel_queries()

        assert len(found) == sum(1 for _ in raw_targets())
        for uid, title, expr in found:
            assert "$" not in expr and "[[" not in expr, f"{uid} / {title}: {expr}"

    def test_replaces_all_options_with_a_match_all_regex_and_builtins_with_durations(self):
        expr = queries.substitute(
            'rate(m{queue=~"$queue", c=~"${channel}"}[$__rate_interval]) and n[$__range]',
            {**queries.BUILTINS, "queue": ".*", "channel": ".*"},
        )
        assert expr == 'rate(m{queue=~".*", c=~".*"}[1m]) and n[1h]'

    def test_an_undefined_variable_is_an_error(self):
        with pytest.raises(KeyError, match=r"\$nope"):
            queries.substitute('m{a=~"$nope"}', queries.BUILTINS)


def promtool() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def test_every_expression_parses_as_promql(tmp_path):
    binary = promtool()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "promtool is missing on CI: deploy/setup.sh installs the prometheus package"
            )
        pytest.skip("promtool not found: install Debian's prometheus package or set PROMTOOL")
    found = queries.all_panel_queries()
    rules = [
        {"record": f"ccpulse_dashboard_query:n{index}", "expr": expr}
        for index, (_, _, expr) in enumerate(found)
    ]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}),
        encoding="utf-8",
    )

    result = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )

    failing = [found[int(n)] for n in re.findall(r"ccpulse_dashboard_query:n(\d+)", result.stderr)]
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\nfailing: {failing}"
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def cx_fleet_rules() -> set[str]:
    path = RULES_DIR / "ccpulse-cx-recording.yml"
    return {
        rule["record"]
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    }


def panel_exprs(uid: str, title: str) -> list[str]:
    return [
        target["expr"]
        for panel in queries.panels(DASHBOARDS[uid])
        if panel["title"] == title
        for target in panel["targets"]
    ]


class TestTicketsDashboard:
    def test_is_tagged_for_the_header_links_and_lists_ticket_queues(self):
        dashboard = DASHBOARDS[tickets.UID]
        assert dashboard["title"] == tickets.TITLE
        assert dashboard["tags"] == ["ccpulse", "tickets"]
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert "cc_tickets_created_total" in variables["queue"]["query"]
        assert set(variables) == {"queue", "channel"}

    def test_has_a_row_per_subject(self):
        rows = [p["title"] for p in DASHBOARDS[tickets.UID]["panels"] if p["type"] == "row"]
        assert rows == [
            "Now",
            "Open cases",
            "Response and resolution",
            "Volume",
            "Customer experience",
            "Customer lifecycle",
        ]

    def test_every_ticket_feedback_and_customer_fleet_rule_is_on_it(self):
        # queue:cc_tickets_backlog:sum and queue_window:cc_csat:ratio exist for the alerts.
        used = {
            name
            for uid, _, expr in queries.all_panel_queries()
            if uid == tickets.UID
            for name in metric_names(expr)
        }
        for_alerts = {"queue:cc_tickets_backlog:sum", "queue_window:cc_csat:ratio"}
        assert cx_fleet_rules() - for_alerts - used == set()

    @pytest.mark.parametrize(
        ("title", "metrics"),
        [
            ("Open tickets by queue", {"cc_tickets_open"}),
            ("Open tickets by priority", {"cc_tickets_open"}),
            ("Awaiting reply and backlog", {"cc_tickets_awaiting_reply", "cc_tickets_backlog"}),
            ("First responses overdue by priority", {"cc_tickets_first_response_overdue"}),
            ("Requests by channel today", {"cc_window_requests"}),
            ("Tickets created today by category", {"cc_window_tickets_created"}),
            ("Reopened today", {"cc_window_tickets_reopened"}),
            ("CSAT today", {"cc_window_csat_satisfied", "cc_window_csat_responses"}),
        ],
        ids=lambda value: value if isinstance(value, str) else None,
    )
    def test_the_live_and_volume_panels_read_their_families(self, title, metrics):
        exprs = panel_exprs(tickets.UID, title)
        assert exprs
        assert set().union(*(metric_names(expr) for expr in exprs)) == metrics

    def test_open_cases_are_split_by_queue_and_priority(self):
        (by_queue,) = panel_exprs(tickets.UID, "Open tickets by queue")
        (by_priority,) = panel_exprs(tickets.UID, "Open tickets by priority")
        assert by_queue.startswith("sum by (queue) ")
        assert by_priority.startswith("sum by (priority) ")

    def test_first_response_and_resolution_in_calendar_and_business_time(self):
        for title, calendar, business in (
            (
                "First response time: calendar and business",
                "queue_channel_window:cc_ticket_first_response_average:seconds",
                "queue_channel_window:cc_ticket_first_response_business_average:seconds",
            ),
            (
                "Resolution time: calendar and business",
                "queue_channel_window:cc_ticket_resolution_average:seconds",
                "queue_channel_window:cc_ticket_resolution_business_average:seconds",
            ),
        ):
            names = [metric_names(expr) for expr in panel_exprs(tickets.UID, title)]
            assert names == [{calendar}, {calendar}, {business}, {business}], title

    def test_customer_lifecycle_shows_this_and_the_previous_month(self):
        for title in ("Retention", "Churn", "Referral", "Engagement",
                      "Customer acquisition cost", "Customer lifetime value"):
            (expr,) = panel_exprs(tickets.UID, title)
            assert 'window=~"month|previous_month"' in expr, title


class TestWallboardTicketTiles:
    @pytest.mark.parametrize(
        ("title", "metrics"),
        [
            ("Open tickets", {"cc_tickets_open"}),
            ("First responses overdue", {"cc_tickets_first_response_overdue"}),
            ("CSAT today", {"cc_window_csat_satisfied", "cc_window_csat_responses"}),
        ],
        ids=["open", "overdue", "csat"],
    )
    def test_the_back_office_tiles_are_on_the_floor_wallboard(self, title, metrics):
        (expr,) = panel_exprs(wallboard.UID, title)
        assert metric_names(expr) == metrics

    def test_csat_today_divides_the_sums_of_its_parts(self):
        (expr,) = panel_exprs(wallboard.UID, "CSAT today")
        assert expr == (
            'sum(cc_window_csat_satisfied{queue=~"$queue", window="today"}) '
            '/ (sum(cc_window_csat_responses{queue=~"$queue", window="today"}) > 0)'
        )


class TestMonthDashboard:
    """The monthly report's overview: exact counter differences over the dashboard's range,
    this range beside the same panels one calendar month earlier."""

    def panels(self):
        return list(queries.panels(DASHBOARDS[month.UID]))

    def test_opens_on_this_month_so_far_and_lists_every_queue(self):
        dashboard = DASHBOARDS[month.UID]
        assert dashboard["title"] == month.TITLE
        assert dashboard["tags"] == ["ccpulse", "month"]
        assert dashboard["time"] == {"from": "now/M", "to": "now"}
        (variable,) = dashboard["templating"]["list"]
        assert variable["name"] == "queue" and variable["includeAll"]
        assert "cc_contacts_offered_total|cc_tickets_created_total" in variable["query"]

    def test_every_panel_is_an_instant_stat_or_table(self):
        for panel in self.panels():
            assert panel["type"] in ("stat", "table"), panel["title"]
            assert all(target["instant"] for target in panel["targets"]), panel["title"]

    def test_every_panel_has_a_twin_one_calendar_month_earlier(self):
        by_title = {panel["title"]: panel for panel in self.panels()}
        current = [p for p in self.panels() if not p["title"].endswith(month.EARLIER_SUFFIX)]
        assert len(current) * 2 == len(by_title)
        for panel in current:
            twin = by_title[panel["title"] + month.EARLIER_SUFFIX]
            assert "timeShift" not in panel, panel["title"]
            assert twin["timeShift"] == "1M", twin["title"]
            assert [t["expr"] for t in twin["targets"]] == [t["expr"] for t in panel["targets"]]
            if panel["type"] == "stat":  # side by side: this range left, a month earlier right
                assert panel["gridPos"]["x"] < 12 <= twin["gridPos"]["x"]
                assert panel["gridPos"]["y"] == twin["gridPos"]["y"]

    def test_counts_are_counter_differences_over_the_range_never_increase(self):
        assert month.delta("cc_x_total", 'queue=~"$queue"', "queue") == (
            '(sum by (queue) (cc_x_total{queue=~"$queue"}) - '
            '(sum by (queue) (cc_x_total{queue=~"$queue"} offset ${__range_s}s) '
            'or sum by (queue) (cc_x_total{queue=~"$queue"}) * 0))'
        )
        for _, title, target in raw_targets():
            if _ != month.UID:
                continue
            expr = target["expr"]
            assert not re.search(r"\b(increase|rate|irate|delta)\(", expr), title
            offsets = re.findall(r"offset ([^\s)]+)", expr)
            assert set(offsets) <= {"${__range_s}s"}, f"{title}: {offsets}"

    def test_the_range_in_seconds_is_substituted_for_the_tests(self):
        assert queries.substitute("x offset ${__range_s}s", queries.BUILTINS) == "x offset 3600s"
        exprs = [expr for uid, _, expr in queries.all_panel_queries() if uid == month.UID]
        assert exprs and all("offset 3600s" in e for e in exprs if "offset" in e)

    def test_summed_families_are_contract_counters(self):
        # {__name__=~"a|b"} adds counters without vector matching; metric_names cannot see them.
        counters = {spec.name for spec in CATALOGUE if spec.kind == "counter"}
        for uid, title, expr in queries.all_panel_queries():
            if uid != month.UID:
                continue
            for names in re.findall(r'__name__=~"([^"]*)"', expr):
                assert set(names.split("|")) <= counters, f"{title}: {names}"

    def test_shows_every_kpi_of_the_report_overview(self):
        titles = {panel["title"] for panel in self.panels()}
        assert {
            "Offered", "Answered", "Service level", "Average speed of answer", "Abandon ratio",
            "Average handle time", "Blocked calls", "First contact resolution",
            "Average response time", "Tickets created", "Tickets solved", "Open at the end",
            "Backlog at the end", "First response time", "Resolution time",
            "Ticket first contact resolution", "Replies per ticket", "CSAT", "NPS", "CES",
            "IQS", "Retention", "Churn", "Referral", "Engagement", "Acquisition cost",
            "Per queue",
        } <= titles

    def test_is_listed_in_the_grafana_readme(self):
        readme = (REPO / "grafana" / "README.md").read_text(encoding="utf-8")
        assert "`/d/ccpulse-month`" in readme
