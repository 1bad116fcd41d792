"""deploy/prometheus: the Prometheus config, recording rules and alerts, checked with promtool.

promtool comes with Debian's `prometheus` package (deploy/setup.sh installs it). Without it these
tests skip on a developer machine and fail under CI (CI=true).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streams.core.metrics import COMPOSITE_PARTS, RATIO_PARTS, SPECS

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RUNBOOK = REPO / "docs" / "runbooks.md"
RUNBOOK_BASE_URL = "https://github.com/ccpulse/ccpulse/blob/main/docs/runbooks.md#"
PROMTOOL_TIMEOUT_S = 120

SEVERITIES = {"critical", "warning"}
CATEGORIES = {"kpi", "pipeline"}  # Alertmanager routes and inhibits on these
RECORD_NAME = re.compile(r"^[a-z][a-z_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")

QCW = "queue, channel, window"
#: The level part of a rule name for the labels a ratio keeps (ccpulse-recording.yml's header).
LEVELS = {
    ("queue", "channel", "window"): "queue_channel_window",
    ("queue", "window"): "queue_window",
    ("window",): "window",
    ("agent", "window"): "agent_window",
}
#: The operation part for the unit a ratio or average is in; anything else is a `mean`.
OPERATIONS = (("_ratio", "ratio"), ("_seconds", "seconds"), ("_score", "score"))


def fleet_rule_name(family: str) -> str:
    """The recording rule of a windowed ratio or average: ``cc_csat_ratio`` ->
    ``queue_channel_window:cc_csat:ratio``; ``cc_replies_per_ticket`` ->
    ``queue_channel_window:cc_replies_per_ticket:mean``."""
    level = LEVELS[SPECS[family].labels]
    for suffix, operation in OPERATIONS:
        if family.endswith(suffix):
            return f"{level}:{family.removesuffix(suffix)}:{operation}"
    return f"{level}:{family}:mean"


#: The fleet-wide windowed ratios (contract §4), one per entry of the catalogue's RATIO_PARTS:
#: rule -> (labels kept, numerator, denominator), each summed over the workers. Other code
#: (dashboards, integration tests) queries them by name.
FLEET_RATIOS = {
    fleet_rule_name(family): (", ".join(SPECS[family].labels), numerator, denominator)
    for family, (numerator, denominator) in RATIO_PARTS.items()
}
#: The composite scores (COMPOSITE_PARTS), from the same parts: rule -> its exact expression.
FLEET_COMPOSITES = {
    "queue_window:cc_nps:score": (
        "100 * (sum by (queue, window) (cc_window_nps_promoters) - sum by (queue, window) "
        "(cc_window_nps_detractors)) / (sum by (queue, window) (cc_window_nps_responses) > 0)"
    ),
    "window:cc_customer_retention:ratio": (
        "(sum by (window) (cc_window_customers_end) - sum by (window) "
        "(cc_window_customers_acquired)) / (sum by (window) (cc_window_customers_start) > 0)"
    ),
}
FLEET_TARGET = "queue_channel_window:cc_service_level_target:ratio"
#: A worker's own windowed ratios, averages and scores (its partitions only): no rule or alert
#: may read them; they go through the fleet rules. The target is configuration, read only with
#: max by.
PER_WORKER_RATIOS = (
    *RATIO_PARTS,
    *COMPOSITE_PARTS,
    "cc_customer_acquisition_cost",
    "cc_customer_lifetime_value",
    "cc_customer_interactions_per_customer",
)


def require_tool(name: str) -> str:
    """Path of a command-line tool; skip without it, except under CI where it must be there."""
    path = shutil.which(name)
    if path is None:
        message = (
            f"{name} not found on PATH: install Debian's prometheus package "
            "(deploy/setup.sh does) to check the Prometheus rules"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: failing instead of skipping)")
        pytest.skip(message)
    return path


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=PROMTOOL_TIMEOUT_S,
        cwd=cwd,
        check=False,
    )


def rules_of(kind: str) -> list[dict]:
    """Every `alert` or `record` rule of the rule files."""
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def uses(expr: str, metric: str) -> bool:
    """Whether ``expr`` reads ``metric`` (a whole name, not a part of a longer one)."""
    return re.search(rf"(?<![\w:]){re.escape(metric)}(?![\w:])", expr) is not None


def one_line(expr: str) -> str:
    return " ".join(expr.split())


def rule_tests() -> list[dict]:
    return [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text())["tests"]]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, - for spaces."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} +(.+?) *$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {github_anchor(heading) for heading in headings}


ALERTS = rules_of("alert")
ALERT_NAMES = sorted({rule["alert"] for rule in ALERTS})
RECORDS = rules_of("record")


class TestPromtoolChecks:
    def test_the_config_and_its_rule_files_are_valid(self):
        result = promtool("check", "config", CONFIG)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_the_config_finds_its_rule_files_from_a_copy_of_the_directory(self, tmp_path):
        copy = tmp_path / "prometheus"
        shutil.copytree(PROMETHEUS_DIR, copy)
        result = promtool("check", "config", "prometheus.yml", cwd=copy)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout

    def test_the_rule_files_are_valid(self):
        result = promtool("check", "rules", *RULE_FILES)
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize("test_file", RULE_TESTS, ids=[p.name for p in RULE_TESTS])
    def test_the_promtool_unit_tests_pass(self, test_file):
        result = promtool("test", "rules", test_file)
        assert result.returncode == 0, result.stdout + result.stderr


class TestPrometheusConfig:
    def test_the_workers_are_scraped_every_5_seconds_as_job_ccpulse(self):
        config = yaml.safe_load(CONFIG.read_text())
        (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "ccpulse"]
        assert job["scrape_interval"] == "5s"
        assert job["static_configs"] == [{"targets": ["localhost:6066"]}]

    def test_alerts_go_to_the_local_alertmanager_and_rules_are_relative(self):
        config = yaml.safe_load(CONFIG.read_text())
        targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
        assert targets == ["localhost:9093"]
        assert config["rule_files"] == ["rules/*.yml"]


class TestAlertRules:
    def test_there_are_rule_files_tests_and_alerts(self):
        assert RULE_FILES and RULE_TESTS and ALERTS and RECORDS

    @pytest.mark.parametrize("rule", ALERTS, ids=[rule["alert"] for rule in ALERTS])
    def test_every_alert_has_severity_category_and_annotations(self, rule):
        assert rule["labels"]["severity"] in SEVERITIES
        assert rule["labels"]["category"] in CATEGORIES
        for annotation in ("summary", "description", "runbook_url"):
            assert rule["annotations"].get(annotation, "").strip(), f"no {annotation}"

    @pytest.mark.parametrize("rule", ALERTS, ids=[rule["alert"] for rule in ALERTS])
    def test_every_runbook_url_points_to_its_own_section_of_the_runbook(self, rule):
        url = rule["annotations"]["runbook_url"]
        assert url == RUNBOOK_BASE_URL + rule["alert"].lower()
        anchor = url.rsplit("#", 1)[1]
        assert anchor in runbook_anchors(), f"docs/runbooks.md has no section '#{anchor}'"

    def test_every_alert_is_shown_to_fire_and_to_stay_quiet(self):
        firing, quiet = set(), set()
        for test in rule_tests():
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
        assert set(ALERT_NAMES) - firing == set(), "alerts never shown to fire"
        assert set(ALERT_NAMES) - quiet == set(), "alerts never shown to stay quiet"

    @pytest.mark.parametrize(
        "rule", ALERTS + RECORDS, ids=[r.get("alert") or r["record"] for r in ALERTS + RECORDS]
    )
    def test_no_rule_reads_a_per_worker_windowed_ratio(self, rule):
        # One worker's ratio covers only its partitions; max/avg over workers is not the
        # queue's number. Alerts use the fleet rules (sum of numerators / sum of denominators).
        used = [metric for metric in PER_WORKER_RATIOS if uses(rule["expr"], metric)]
        assert used == [], f"{used} in {rule['expr']}: use the queue_*window:* fleet rules"
        if uses(rule["expr"], "cc_service_level_target_ratio"):
            # configuration, the same on every worker: never summed, only `max by`
            bare = re.sub(r"max by \([^)]*\) \(cc_service_level_target_ratio\)", "", rule["expr"])
            assert not uses(bare, "cc_service_level_target_ratio"), rule["expr"]

    def test_every_tested_alert_exists(self):
        tested = {
            case["alertname"] for test in rule_tests() for case in test.get("alert_rule_test", [])
        }
        assert tested - set(ALERT_NAMES) == set()


class TestRecordingRules:
    @pytest.mark.parametrize("rule", RECORDS, ids=[rule["record"] for rule in RECORDS])
    def test_names_follow_level_metric_operations(self, rule):
        assert RECORD_NAME.match(rule["record"]), rule["record"]

    def test_every_recorded_series_is_checked_for_values(self):
        expressions = " ".join(
            case["expr"] for test in rule_tests() for case in test.get("promql_expr_test", [])
        )
        unchecked = {rule["record"] for rule in RECORDS if rule["record"] not in expressions}
        assert unchecked == set()

    @pytest.mark.parametrize("name", sorted(FLEET_RATIOS))
    def test_fleet_ratios_divide_the_sums_over_workers(self, name):
        labels, numerator, denominator = FLEET_RATIOS[name]
        (rule,) = [rule for rule in RECORDS if rule["record"] == name]
        assert one_line(rule["expr"]) == (
            f"sum by ({labels}) ({numerator}) / (sum by ({labels}) ({denominator}) > 0)"
        )

    @pytest.mark.parametrize("name", sorted(FLEET_COMPOSITES))
    def test_composite_scores_are_computed_from_their_summed_parts(self, name):
        (rule,) = [rule for rule in RECORDS if rule["record"] == name]
        assert one_line(rule["expr"]) == FLEET_COMPOSITES[name]

    @pytest.mark.parametrize("family", sorted(COMPOSITE_PARTS))
    def test_every_composite_of_the_catalogue_has_its_rule(self, family):
        (name,) = [name for name in FLEET_COMPOSITES if fleet_rule_name(family) == name]
        parts = re.findall(r"cc_window_\w+", COMPOSITE_PARTS[family])
        assert parts and all(uses(FLEET_COMPOSITES[name], part) for part in parts)

    @pytest.mark.parametrize(
        ("family", "rule"),
        [
            ("cc_service_level_ratio", "queue_channel_window:cc_service_level:ratio"),
            ("cc_blocking_ratio", "queue_window:cc_blocking:ratio"),
            ("cc_chat_response_average_seconds", "queue_window:cc_chat_response_average:seconds"),
            ("cc_ces_average_score", "queue_channel_window:cc_ces_average:score"),
            ("cc_replies_per_ticket", "queue_channel_window:cc_replies_per_ticket:mean"),
            ("cc_customer_churn_ratio", "window:cc_customer_churn:ratio"),
            ("cc_nps_score", "queue_window:cc_nps:score"),
        ],
        ids=["ratio", "queue-level", "average", "score", "mean", "customer-month", "nps"],
    )
    def test_rule_names_follow_the_family_name(self, family, rule):
        assert fleet_rule_name(family) == rule

    def test_the_target_is_taken_once_not_summed_over_workers(self):
        (rule,) = [rule for rule in RECORDS if rule["record"] == FLEET_TARGET]
        assert one_line(rule["expr"]) == f"max by ({QCW}) (cc_service_level_target_ratio)"

    def test_no_rule_matches_a_bucket_bound_written_without_its_decimal(self):
        # prometheus-client writes le="20.0": a rule matching le="20" would match nothing.
        for path in RULE_FILES:
            assert not re.search(r'le="\d+"', path.read_text()), path.name
