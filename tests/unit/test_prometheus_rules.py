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

QCW, QW = "queue, channel, window", "queue, window"
#: The fleet-wide windowed ratios (SPEC §4): rule -> (labels kept, numerator, denominator), each
#: summed over the workers. Other code (dashboards, integration tests) queries them by name.
FLEET_RATIOS = {
    "queue_channel_window:cc_service_level:ratio": (
        QCW,
        "cc_window_contacts_service_level_met",
        "cc_window_contacts_service_level_counted",
    ),
    "queue_channel_window:cc_average_speed_of_answer:seconds": (
        QCW,
        "cc_window_contact_wait_seconds_sum",
        "cc_window_contacts_answered",
    ),
    "queue_channel_window:cc_abandon:ratio": (
        QCW,
        "cc_window_contacts_abandoned",
        "cc_window_contacts_left_queue",
    ),
    "queue_channel_window:cc_average_handle_time:seconds": (
        QCW,
        "cc_window_contact_handle_seconds_sum",
        "cc_window_contacts_handled",
    ),
    "queue_channel_window:cc_first_contact_resolution:ratio": (
        QCW,
        "cc_window_contacts_resolved_first_contact",
        "cc_window_contacts_handled",
    ),
    "queue_window:cc_blocking:ratio": (QW, "cc_window_calls_blocked", "cc_window_calls_attempted"),
    "queue_window:cc_chat_response_average:seconds": (
        QW,
        "cc_window_chat_response_seconds_sum",
        "cc_window_chat_responses",
    ),
    "queue_window:cc_occupancy:ratio": (
        QW,
        "cc_window_agent_busy_seconds",
        "cc_window_agent_staffed_seconds",
    ),
}
FLEET_TARGET = "queue_channel_window:cc_service_level_target:ratio"
#: A worker's own windowed ratios and averages (its partitions only): no rule or alert may read
#: them; they go through FLEET_RATIOS. The target is configuration, read only with max by.
PER_WORKER_RATIOS = (
    "cc_service_level_ratio",
    "cc_average_speed_of_answer_seconds",
    "cc_abandon_ratio",
    "cc_blocking_ratio",
    "cc_average_handle_time_seconds",
    "cc_first_contact_resolution_ratio",
    "cc_chat_response_average_seconds",
    "cc_occupancy_ratio",
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

    def test_the_target_is_taken_once_not_summed_over_workers(self):
        (rule,) = [rule for rule in RECORDS if rule["record"] == FLEET_TARGET]
        assert one_line(rule["expr"]) == f"max by ({QCW}) (cc_service_level_target_ratio)"

    def test_no_rule_matches_a_bucket_bound_written_without_its_decimal(self):
        # prometheus-client writes le="20.0": a rule matching le="20" would match nothing.
        for path in RULE_FILES:
            assert not re.search(r'le="\d+"', path.read_text()), path.name
