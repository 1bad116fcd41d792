"""Every Grafana panel query and every recording rule, answered by a real Prometheus.

Real broker -> ``ccpulse worker`` -> Prometheus running the shipped ``deploy/prometheus``
configuration and rules (scrape targets rewritten to this test's ports) -> Alertmanager. The
worker gets 45 simulated minutes of a busy, short-staffed centre sent at once with
``ccpulse produce`` (so the interval, previous-interval and today windows are full), plus some
pipeline faults (invalid lines, redelivered duplicates, one event older than the retention),
one urgent ticket that nobody answers, and then the same simulation carries on in real time
so that every ``rate(...[1m])`` moves.

What you should see: a table of every query with its number of series and value range. The
test passes when, at one moment, every panel query and every recording rule returns at least
one series with a sane value: finite, >= 0, and <= 1 for ratios. NaN is accepted only where a
query is defined to give it: the data-age tile's ``or vector(NaN)`` fallback (asked at a
time before the first scrape, checked separately), and a rolling percentile
(``histogram_quantile`` over ``rate``) for a series that had no observation in its window —
PromQL defines that as NaN, and the test checks the series' own observation rate is 0 before
accepting it (a quiet minute without an abandoned chat is not a fault; at least one series of
the panel must still have a value). The other exception is explicit too: the wallboard's
service-level tiles are one value split into mutually exclusive colour bands (one query per
band), so only one band per channel can have data; for them the test checks that each
channel is in exactly one band. NPS (−100…100) and the customer lifetime value (revenue less
the acquisition cost) may be negative.

The worker is configured with first-response targets per priority, so that some tickets are
overdue (at least the unanswered one: how many simulated tickets are overdue at the end
depends on the seed and the minute the test starts, and can be none). With one worker, every
fleet rule of tickets, feedback and customers
(``ccpulse-cx-recording.yml``) must equal the worker's own gauge of the same family, series
for series, when both are computed from the same scrape: the rules read the engine's parts
the way the engine divides them.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from prometheus_harness import (
    SHIPPED_RULES,
    Prometheus,
    Series,
    Stack,
    deadline_poll,
    monitored_worker,
)
from traffic import LiveFeed, now_ms, produce, recent_and_live, write_jsonl

from grafana.dashboards_src import month
from grafana.queries import PanelQuery, all_panel_queries
from streams.core.metrics import SPECS
from streams.simulate.model import (
    CustomerActivity,
    FeedbackPolicy,
    IntradayProfile,
    Scenario,
)
from streams.simulate.scenarios import contact_centre
from streams.simulate.world import TimedEvent

SEED = 20261122
PAST_MS = 45 * 60_000
#: Upper bound of the real-time part; the feed stops as soon as the checks pass.
LIVE_MS = 5 * 60_000
#: The checks start this long after the worker has caught up with the past, so that the
#: 1-minute panels (rates, rolling percentiles, event lag) see only the live part.
LIVE_ONLY_AFTER_S = 65.0
#: How long after that they may take to all pass at once (every rolling panel needs some
#: channel to answer, abandon and finish a contact within the same minute; a channel without
#: one shows the NaN PromQL defines for an empty window).
CHECK_TIMEOUT_S = 90.0
#: Live plausibility: the freshness and the event lag of a worker keeping up with the feed.
MAX_LIVE_AGE_S = 60.0
LATE_BY_MS = 49 * 3_600_000  # older than the engine's 48 h retention: counted as late
UNANSWERED_FOR_MS = 20 * 60_000  # an urgent ticket's target in CONFIG is 600 s

#: Panels whose value is a share in 0-1 although no ``*_ratio`` metric is in the query (the
#: Month dashboard's ratios are differences of counters over differences of counters).
COMPUTED_RATIOS = {"Invalid share", "Answered within threshold (rolling)", "CSAT today",
                   *month.RATIO_TITLES}
#: Values that may be negative: NPS (-100..100: the fleet rule, or the Month dashboard's from
#: the survey counter) and CLV (revenue less acquisition cost).
NPS = re.compile(r'cc_nps:score|survey="nps"')
SIGNED = re.compile(rf"{NPS.pattern}|cc_customer_lifetime_value")
NPS_BOUND = 100.0
CX_RULES = SHIPPED_RULES / "ccpulse-cx-recording.yml"
#: Tickets become overdue within the test's 45 minutes (the simulated first replies take
#: longer): the "First responses overdue" panels have something to show. Trunks: the Erlang B
#: prediction has something to show.
CONFIG = """
[defaults]
first_response_target_seconds = { urgent = 600, high = 1800, normal = 3600, low = 7200 }
trunks = 100

[limits]
per_agent = true                # the per-agent dashboard (ccpulse-agent-detail) has data
"""
#: Panels of a live pipeline: how old the newest event is, how late events are processed.
LIVE_BOUNDED = {"Data age", "Data age by topic", "Event lag (processing - event time)",
                "Event lag p99 by topic"}
#: Tiles showing one value as mutually exclusive colour bands, one target per band; the last
#: target (``... unless target``) is the band for a queue without a target.
BANDED = {("ccpulse-wallboard", "SL this interval"), ("ccpulse-wallboard", "SL today")}
#: The freshness tile: ``or vector(NaN)`` turns "no series at all" into NO DATA.
NAN_FALLBACK = "clamp_min(time() - max(cc_last_event_timestamp_seconds), 0) or vector(NaN)"


def busy_centre() -> Scenario:
    """The demo contact centre at four times its volume with 1.75 times its agents, all day.

    Short-staffed on purpose: every minute both channels answer, abandon (some within the
    short-abandon threshold) and finish contacts, voice and chat flow out to overflow, the
    trunks fill up now and then (blocked calls), and tickets, surveys, QA reviews and customer
    events arrive several times a minute, so that every topic and every rolling panel has data.
    """
    base = contact_centre()
    return replace(
        base,
        name="busy-centre",
        profile=IntradayProfile(((0.0, 1.0),)),  # the same at any hour the test runs
        contact_streams=tuple(
            replace(s, arrivals_per_hour=s.arrivals_per_hour * 4,
                    flow_out_after_seconds=s.flow_out_after_seconds and
                    s.flow_out_after_seconds / 3)
            for s in base.contact_streams),
        agent_groups=tuple(replace(g, count=round(g.count * 1.75), follows_profile=False)
                           for g in base.agent_groups),
        trunks=100,
        # Tickets answered and solved within minutes rather than hours, e-mail surveys sent
        # minutes after the contact, and ten times the acquisitions: every ticket, survey and
        # customer panel has data in the completed interval and in the month so far.
        ticket_streams=tuple(replace(t, arrivals_per_hour=t.arrivals_per_hour * 6,
                                     assign_mean_seconds=120.0,
                                     first_reply_mean_seconds={
                                         p: s / 12 for p, s in
                                         t.first_reply_mean_seconds.items()},
                                     reply_mean_seconds=t.reply_mean_seconds / 12,
                                     customer_reply_mean_seconds=600.0,
                                     on_hold_mean_seconds=600.0)
                             for t in base.ticket_streams),
        feedback=FeedbackPolicy(survey_probability=0.3, qa_reviews_per_hour=240,
                                email_delay_mean_seconds=300.0),
        customers=CustomerActivity(interactions_per_hour=600, acquired_per_month=0.3),
    )


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def pipeline_faults(past: list[TimedEvent]) -> tuple[list[bytes], list[bytes]]:
    """(routable lines, raw lines for the calls topic): redelivered duplicates, one call
    queued 49 h ago (late, and stale ever since) and one urgent ticket nobody answers; invalid
    lines for the dead-letter topic."""
    stateful = [event for _, event in past if event["type"].startswith(("call.", "agent."))]
    duplicates = [orjson.dumps(event) for event in stateful[-300::10]]
    late = orjson.dumps({"event_id": str(uuid.uuid4()), "type": "call.queued",
                         "occurred_at": rfc3339(now_ms() - LATE_BY_MS), "source": "test",
                         "call_id": "call-late-0000001", "queue": "sales",
                         "customer_id": "cust-000001"})
    # Past its first-response target (600 s for urgent) whatever the simulated replies do:
    # how many simulated tickets are overdue at the end depends on the seed and the minute.
    unanswered = orjson.dumps({"event_id": str(uuid.uuid4()), "type": "ticket.created",
                               "occurred_at": rfc3339(now_ms() - UNANSWERED_FOR_MS),
                               "source": "test", "ticket_id": "ticket-unanswered-0000001",
                               "queue": "support", "channel": "email", "category": "technical",
                               "customer_id": "cust-000001", "priority": "urgent"})
    invalid = [b"{this is not json", b'["call.queued"]',
               b'{"type": "call.queued", "occurred_at": "2026-11-22T09:00:00Z", '
               b'"call_id": "x1", "queue": "sales"}']
    return [*duplicates, late, unanswered], invalid


def shipped_recording_rules() -> list[str]:
    return [rule["record"] for path in sorted(SHIPPED_RULES.glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule]


# ------------------------------------------------------------------ sanity of one result

def is_ratio(expr: str, title: str = "") -> bool:
    return title in COMPUTED_RATIOS or bool(re.search(r"_ratio\b|:ratio", expr))


def value_problems(result: list[Series], ratio: bool, upper: float = math.inf,
                   signed: bool = False) -> list[str]:
    """What is wrong with ``result``: empty, NaN/Inf, negative (unless ``signed``), a ratio
    above 1, above ``upper``."""
    if not result:
        return ["no data"]
    problems = []
    for series in result:
        v = series.value
        if math.isnan(v) or math.isinf(v):
            problems.append(f"{v} for {series.labels}")
        elif v < 0 and not signed:
            problems.append(f"negative {v} for {series.labels}")
        elif ratio and v > 1:
            problems.append(f"ratio {v} > 1 for {series.labels}")
        elif v > upper:
            problems.append(f"{v} > {upper} for {series.labels}")
    return problems


#: A rolling percentile: ``histogram_quantile(q, sum by (le[, by]) (rate(H_bucket{m}[w])))``.
ROLLING_QUANTILE = re.compile(
    r"^histogram_quantile\([\d.]+, sum by \(le(?:, (?P<by>[^)]*))?\) "
    r"\(rate\((?P<histogram>\w+)_bucket(?P<matchers>\{[^}]*\})\[(?P<window>\w+)\]\)\)\)$")


def observation_rate_expr(expr: str) -> str | None:
    """The observation rate behind a rolling percentile, grouped as it is; None otherwise.

    >>> observation_rate_expr('histogram_quantile(0.5, sum by (le, channel) '
    ...     '(rate(h_bucket{q="a"}[1m])))')
    'sum by (channel) (rate(h_count{q="a"}[1m]))'
    """
    found = ROLLING_QUANTILE.match(expr)
    if found is None:
        return None
    return (f"sum by ({found['by'] or ''}) "
            f"(rate({found['histogram']}_count{found['matchers']}[{found['window']}]))")


def without_empty_windows(prometheus: Prometheus, expr: str,
                          result: list[Series]) -> list[Series]:
    """``result`` less the NaN series of a rolling percentile whose window saw nothing.

    PromQL's ``histogram_quantile`` of an all-zero rate is NaN by definition; such a series is
    dropped only after checking its own observation rate is 0, so a NaN with observations
    behind it still fails.
    """
    rate_expr = observation_rate_expr(expr)
    if rate_expr is None or not any(math.isnan(s.value) for s in result):
        return result
    idle = {tuple(sorted(s.labels.items())) for s in prometheus.query(rate_expr)
            if s.value == 0}
    return [s for s in result
            if not (math.isnan(s.value) and tuple(sorted(s.labels.items())) in idle)]


def band_problems(prometheus: Prometheus, bands: list[PanelQuery]) -> list[str]:
    """Each channel's value in exactly one colour band, the no-target band empty."""
    *coloured, no_target = bands
    seen: Counter[str] = Counter()
    problems = []
    for band in coloured:
        result = prometheus.query(band.expr)
        problems += [p for p in value_problems(result, ratio=True) if p != "no data"]
        seen.update(series.labels.get("channel", "") for series in result)
    if set(seen) != {"voice", "chat"}:
        problems.append(f"channels in the bands: {sorted(seen)}, expected voice and chat")
    problems += [f"channel {c} in {n} bands" for c, n in seen.items() if n != 1]
    if prometheus.query(no_target.expr):
        problems.append("the no-target band has data although every queue exports a target")
    return problems


class Checks:
    """Every panel query and recording rule, run together; the problems of the last run."""

    def __init__(self, prometheus: Prometheus) -> None:
        self.prometheus = prometheus
        self.panels = all_panel_queries()
        self.problems: list[str] = []
        self.table: list[tuple[str, str, int, str]] = []

    def run(self) -> bool:
        self.problems, self.table = [], []
        banded: dict[tuple[str, str], list[PanelQuery]] = {}
        for panel in self.panels:
            if (panel.dashboard_uid, panel.panel_title) in BANDED:
                banded.setdefault((panel.dashboard_uid, panel.panel_title), []).append(panel)
                continue
            result = without_empty_windows(self.prometheus, panel.expr,
                                           self.prometheus.query(panel.expr))
            upper = MAX_LIVE_AGE_S if panel.panel_title in LIVE_BOUNDED else math.inf
            if NPS.search(panel.expr):
                upper = NPS_BOUND
            self._record(f"{panel.dashboard_uid} / {panel.panel_title}", panel.expr, result,
                         is_ratio(panel.expr, panel.panel_title), upper,
                         signed=bool(SIGNED.search(panel.expr)))
        for (uid, title), bands in banded.items():
            problems = band_problems(self.prometheus, bands)
            self.problems += [f"{uid} / {title}: {p}" for p in problems]
            for band in bands:
                self.table.append((f"{uid} / {title}", band.expr,
                                   len(self.prometheus.query(band.expr)), "(colour band)"))
        for rule in self.prometheus.rules():
            if rule["health"] != "ok":
                self.problems.append(f"rule {rule.get('name')}: {rule['health']} "
                                     f"{rule.get('lastError')}")
            if rule["type"] != "recording":
                continue
            selector = ", ".join(f'{k}="{v}"' for k, v in sorted(rule.get("labels", {}).items()))
            expr = f"{rule['name']}{{{selector}}}"
            result = self.prometheus.query(expr)
            self._record(f"rule ({rule['group']})", expr, result, is_ratio(rule["name"]),
                         signed=bool(SIGNED.search(rule["name"])))
            if rule["name"].endswith("error_budget:ratio"):  # 1 - the default target 0.8
                self.problems += [f"{expr} = {s.value}, expected 0.2" for s in result
                                  if abs(s.value - 0.2) > 1e-9]
        for rule, family in CX_RULE_FAMILIES.items():
            self.problems += [f"rule {rule} against {family}: {p}"
                              for p in rule_against_gauge(self.prometheus, rule, family)]
        return not self.problems

    def _record(self, where: str, expr: str, result: list[Series], ratio: bool,
                upper: float = math.inf, signed: bool = False) -> None:
        self.problems += [f"{where}: {expr}: {p}"
                          for p in value_problems(result, ratio, upper, signed)]
        values = [s.value for s in result]
        shown = f"{min(values):.4g} .. {max(values):.4g}" if values else "-"
        self.table.append((where, expr, len(result), shown))

    def report(self) -> str:
        width = max(len(where) for where, *_ in self.table)
        lines = [f"{'query':<{width}}  series  values  expr"]
        lines += [f"{where:<{width}}  {count:>6}  {shown}  {expr}"
                  for where, expr, count, shown in self.table]
        return "\n".join(lines)


# ------------------------------------------------------------------ fleet rules = engine

def cx_rule_expressions() -> dict[str, str]:
    """Every rule of ccpulse-cx-recording.yml -> its expression, with the rules it reads
    replaced by their own expressions (so that one query computes it from one scrape)."""
    rules = {rule["record"]: " ".join(rule["expr"].split())
             for group in yaml.safe_load(CX_RULES.read_text())["groups"]
             for rule in group["rules"]}
    for name in rules:
        for other, expr in rules.items():
            if other != name:
                rules[name] = re.sub(rf"(?<![\w:]){re.escape(other)}(?![\w:])", f"({expr})",
                                     rules[name])
    return rules


def family_of(rule: str) -> str | None:
    """The engine family a fleet rule stands for: ``queue_window:cc_nps:score`` ->
    ``cc_nps_score``; ``...:cc_replies_per_ticket:mean`` -> ``cc_replies_per_ticket``."""
    _, metric, operation = rule.split(":")
    return metric if operation in ("mean", "sum") else f"{metric}_{operation}"


CX_RULE_FAMILIES = {rule: family for rule in cx_rule_expressions()
                    if (family := family_of(rule)) in SPECS
                    and set(SPECS[family].labels) == set(rule.split(":")[0].split("_"))}


def rule_against_gauge(prometheus: Prometheus, rule: str, family: str) -> list[str]:
    """The rule's expression and the worker's own gauge at the same instant: the same series
    with the same values (one worker: its partitions are the fleet)."""
    at = time.time() - 1.0  # a moment both queries see the same last scrape
    labels = ", ".join(SPECS[family].labels)
    fleet = {tuple(sorted(s.labels.items())): s.value
             for s in prometheus.query(cx_rule_expressions()[rule], at)}
    worker = {tuple(sorted(s.labels.items())): s.value
              for s in prometheus.query(f"sum by ({labels}) ({family})", at)}
    problems = []
    if fleet.keys() != worker.keys():
        problems.append(f"series differ: rule only {sorted(fleet.keys() - worker.keys())}, "
                        f"gauge only {sorted(worker.keys() - fleet.keys())}")
    problems += [f"{dict(key)}: rule {fleet[key]!r}, gauge {worker[key]!r}"
                 for key in fleet.keys() & worker.keys()
                 if not math.isclose(fleet[key], worker[key], rel_tol=1e-9, abs_tol=1e-9)]
    return problems


# ------------------------------------------------------------------ the test

def caught_up_with(stack: Stack, sent: int) -> bool:
    """The worker has taken ``sent`` messages from the source topics (valid, duplicate or
    invalid) and no partition lags behind."""
    counted = ("cc_events_total", "cc_events_duplicate_total", "cc_events_invalid_total")
    metrics = stack.worker.metrics()
    consumed = sum(v for (name, _), v in metrics.items() if name in counted)
    lag = sum(v for (name, _), v in metrics.items() if name == "cc_consumer_lag_messages")
    return consumed >= sent and lag == 0


@pytest.fixture
def stack(kafka_bootstrap: str, unique_name: str, tmp_path: Path):
    with monitored_worker(kafka_bootstrap, unique_name, tmp_path,
                          config_toml=CONFIG) as running:
        yield running


def test_every_panel_query_and_recording_rule_returns_sane_data(
        stack: Stack, kafka_bootstrap: str, unique_name: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    started = time.time()
    prefix = unique_name + "."
    prometheus = stack.prometheus
    past, live = recent_and_live(busy_centre(), seed=SEED, past_ms=PAST_MS, live_ms=LIVE_MS)
    routable, invalid = pipeline_faults(past)
    produce(kafka_bootstrap, prefix, write_jsonl(tmp_path / "past.jsonl", [*past, *routable]))
    produce(kafka_bootstrap, prefix, write_jsonl(tmp_path / "invalid.jsonl", invalid),
            topic=prefix + "cc.calls")

    sent_at_once = len(past) + len(routable) + len(invalid)

    checks = Checks(prometheus)
    with LiveFeed(kafka_bootstrap, prefix, live) as feed:
        deadline_poll(lambda: caught_up_with(stack, sent_at_once),
                      f"the worker to consume the {sent_at_once} events sent at once",
                      stack.logs)
        caught_up = time.time()

        def live_windows_pass() -> bool:
            # Only once the 1-minute panels see nothing but the live part (no catch-up burst).
            if time.time() - caught_up < LIVE_ONLY_AFTER_S:
                checks.problems = [f"(not checked yet: {LIVE_ONLY_AFTER_S:.0f} s of live "
                                   "traffic first)"]
                return False
            return checks.run()

        try:
            deadline_poll(live_windows_pass,
                          "every panel query and recording rule to have sane data",
                          lambda: "last problems:\n" + "\n".join(checks.problems) + "\n"
                          + stack.logs(), timeout_s=CHECK_TIMEOUT_S, every_s=2.0)
        finally:
            with capsys.disabled():
                print(f"\n{checks.report()}\n{len(checks.table)} queries, "
                      f"{feed.sent} live events, {time.time() - started:.0f} s")

    # The checks ran on a live scrape series (5 s, as shipped), not on one lucky scrape.
    assert prometheus.successful_scrapes("ccpulse", LIVE_ONLY_AFTER_S) >= 10
    # The fallback NaN of the freshness tile: asked before the first scrape, it is NO DATA.
    before_any_scrape = started - 3600
    assert [math.isnan(s.value) for s in prometheus.query(NAN_FALLBACK, before_any_scrape)] \
        == [True]
    # Nothing was left out: every panel target, and every recording rule of the shipped files.
    assert len(checks.table) == len(all_panel_queries()) + len(shipped_recording_rules())
    # Every windowed ratio, average and score of tickets, feedback and customers was compared
    # with the engine's own gauge (CAC, CLV and engagement included).
    assert set(CX_RULE_FAMILIES.values()) >= {
        "cc_csat_ratio", "cc_nps_score", "cc_ticket_resolution_ratio", "cc_replies_per_ticket",
        "cc_customer_retention_ratio", "cc_customer_acquisition_cost",
        "cc_customer_lifetime_value", "cc_customer_interactions_per_customer"}
    # Tickets past their first-response target are shown: the unanswered one at least.
    assert prometheus.value('sum(cc_tickets_first_response_overdue{queue="support", '
                            'channel="email", priority="urgent"})') >= 1


def test_every_rolling_percentile_panel_has_its_observation_rate() -> None:
    """The NaN allowance applies to every rolling percentile on the dashboards, grouped as it
    is (a new quantile shape would otherwise fail the live test on a quiet minute)."""
    quantiles = [p.expr for p in all_panel_queries() if "histogram_quantile" in p.expr]
    assert quantiles
    assert all(observation_rate_expr(expr) for expr in quantiles)
    assert observation_rate_expr(
        'histogram_quantile(0.5, sum by (le, channel) (rate(cc_contact_wait_seconds_bucket'
        '{queue=~".*", outcome="abandoned"}[1m])))') == (
        'sum by (channel) (rate(cc_contact_wait_seconds_count'
        '{queue=~".*", outcome="abandoned"}[1m]))')
    assert observation_rate_expr("sum(rate(cc_contacts_total[1m]))") is None
