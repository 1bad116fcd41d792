"""A queue in breach pages through the real chain; a healthy queue beside it stays quiet.

Real broker -> ``ccpulse worker`` -> Prometheus with the shipped configuration and rules ->
Alertmanager with the shipped routes and inhibitions -> a local webhook receiver. Two M/M/N+M
queues run side by side, simulated for 10 minutes up to now (sent at once with
``ccpulse produce``) and then in real time:

- ``sales``: 3 agents for 60 erlangs of calls. Nearly every caller waits past the 20 s
  threshold or gives up: the service level collapses to almost 0.
- ``support``: 12 agents for 5 erlangs, a 90 % target: nearly everyone is answered at once.

What you should see: ServiceLevelBreach (the interval service level, a warning) and
ServiceLevelBurnRateFast (the error budget burning over 1 h and 5 m, a page) firing for
sales/voice in ``ALERTS``; both in Alertmanager with the queue label and routed to the
receivers the shipped routes promise; the breach inhibited by the fast burn; the page posted
to the paging receiver of the hour (``floor-pager`` in business hours, ``after-hours``
outside); and nothing at all, not even pending, for support.

Test-only change: the ``for:`` of every KPI alert is cut to ``KPI_FOR`` (shipped: 1 to 15
minutes; ServiceLevelBreach 5 m, ServiceLevelBurnRateFast 2 m), so that the test takes about
two minutes. Expressions, labels, intervals, routes and timings are the shipped ones.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_harness import SHIPPED_RULES, Stack, deadline_poll, monitored_worker
from traffic import LiveFeed, produce, recent_and_live, write_jsonl

from streams.simulate.model import Scenario
from streams.simulate.scenarios import mmn

SEED = 7
PAST_MS = 10 * 60_000
LIVE_MS = 5 * 60_000  # upper bound: the feed stops when the test is done
BREACH, HEALTHY = "sales", "support"
KPI_FOR = "15s"
#: From the first event to the page in the webhook receiver: the fast burn needs a few scrapes
#: of live traffic, two rule evaluations (15 s), KPI_FOR, and Alertmanager's group_wait (30 s).
ALERT_TIMEOUT_S = 150.0

CONFIG = f"""
[queues.{BREACH}.service_level]
threshold_seconds = 20
target_ratio = 0.8

[queues.{HEALTHY}.service_level]
threshold_seconds = 30
target_ratio = 0.9
"""


def breach_and_healthy() -> Scenario:
    """Two textbook queues with their own agents (agent ids named after the queue)."""
    breach = mmn(agents=3, arrivals_per_second=1.0, aht_seconds=60, patience_seconds=45,
                 queue=BREACH)
    healthy = mmn(agents=12, arrivals_per_second=0.5, aht_seconds=10, patience_seconds=120,
                  queue=HEALTHY)
    return Scenario(
        name="breach-and-healthy",
        contact_streams=breach.contact_streams + healthy.contact_streams,
        agent_groups=tuple(replace(group, name=queue) for queue, group in
                           ((BREACH, breach.agent_groups[0]), (HEALTHY, healthy.agent_groups[0]))),
    )


def kpi_alert_names() -> list[str]:
    groups = yaml.safe_load((SHIPPED_RULES / "ccpulse-kpi-alerts.yml").read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def named(alerts: list[dict[str, Any]], alertname: str, **labels: str) -> list[dict[str, Any]]:
    """Alertmanager alerts with this name and these labels."""
    return [a for a in alerts if a["labels"].get("alertname") == alertname
            and all(a["labels"].get(k) == v for k, v in labels.items())]


@pytest.fixture
def stack(kafka_bootstrap: str, unique_name: str, tmp_path: Path):
    with monitored_worker(kafka_bootstrap, unique_name, tmp_path, config_toml=CONFIG,
                          for_overrides=dict.fromkeys(kpi_alert_names(), KPI_FOR)) as running:
        yield running


def test_breached_queue_fires_and_pages_while_the_healthy_queue_stays_quiet(
        stack: Stack, kafka_bootstrap: str, unique_name: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    prefix = unique_name + "."
    prometheus, alertmanager = stack.prometheus, stack.alertmanager
    past, live = recent_and_live(breach_and_healthy(), seed=SEED, past_ms=PAST_MS,
                                 live_ms=LIVE_MS)
    produce(kafka_bootstrap, prefix, write_jsonl(tmp_path / "past.jsonl", past))

    healthy_alerts: list[dict[str, str]] = []  # anything about support, at any poll

    def firing(alertname: str) -> bool:
        healthy_alerts.extend(s.labels for s in prometheus.query(f'ALERTS{{queue="{HEALTHY}"}}'))
        return bool(prometheus.query(
            f'ALERTS{{alertname="{alertname}", alertstate="firing", queue="{BREACH}", '
            f'channel="voice"}}'))

    with LiveFeed(kafka_bootstrap, prefix, live):
        for alertname in ("ServiceLevelBreach", "ServiceLevelBurnRateFast"):
            deadline_poll(lambda name=alertname: firing(name),
                          f"{alertname} to fire for {BREACH}/voice in Prometheus", stack.logs,
                          timeout_s=ALERT_TIMEOUT_S, every_s=1.0)
        fired_after_s = time.monotonic() - started

        # Alertmanager has both, with the queue label, routed as the shipped routes say. (Polled:
        # the breach resolves for a moment when a new 15-minute interval starts.)
        def both_in_alertmanager() -> bool:
            alerts = alertmanager.alerts()
            return all(len(named(alerts, name, queue=BREACH, channel="voice")) == 1
                       for name in ("ServiceLevelBreach", "ServiceLevelBurnRateFast"))

        deadline_poll(both_in_alertmanager, "Alertmanager to hold both alerts", stack.logs)
        alerts = alertmanager.alerts()
        [breach] = named(alerts, "ServiceLevelBreach", queue=BREACH, channel="voice")
        [fast] = named(alerts, "ServiceLevelBurnRateFast", queue=BREACH, channel="voice")
        assert (breach["labels"]["severity"], breach["labels"]["category"]) == ("warning", "kpi")
        assert (fast["labels"]["severity"], fast["labels"]["category"]) == ("critical", "kpi")
        assert [r["name"] for r in breach["receivers"]] == ["floor-sales"]
        assert sorted(r["name"] for r in fast["receivers"]) == ["after-hours", "floor-pager"]
        assert fast["status"]["state"] == "active"

        # The fast burn inhibits the interval breach of the same queue and channel.
        def breach_inhibited() -> bool:
            [alert] = named(alertmanager.alerts(), "ServiceLevelBreach", queue=BREACH,
                            channel="voice") or [None]
            return alert is not None and alert["status"]["state"] == "suppressed" \
                and fast["fingerprint"] in alert["status"]["inhibitedBy"]

        deadline_poll(breach_inhibited, "ServiceLevelBreach to be inhibited by the fast burn",
                      stack.logs)

        # The page reaches exactly one paging receiver (which one depends on the hour).
        def paged() -> list[str]:
            return [path for path, payload in stack.webhooks.notifications()
                    if any(a["labels"].get("alertname") == "ServiceLevelBurnRateFast"
                           and a["labels"].get("queue") == BREACH for a in payload["alerts"])]

        deadline_poll(lambda: bool(paged()), "the page to reach a webhook receiver", stack.logs,
                      timeout_s=ALERT_TIMEOUT_S)
        assert len(set(paged())) == 1 and paged()[0] in ("/floor-pager", "/after-hours")
        paged_after_s = time.monotonic() - started

        # The healthy queue had the volume to fire and a good service level throughout (over
        # the run, so a new interval starting just now changes nothing), and never fired, not
        # even pending.
        run = f"{int(time.monotonic() - started) + 1}s"
        healthy = f'queue="{HEALTHY}", window="interval"'
        assert prometheus.value(f"max_over_time(cc_window_contacts_offered{{{healthy}}}[{run}])"
                                ) >= 10
        assert prometheus.value(f'queue_channel:cc_contacts_offered:rate1h{{queue="{HEALTHY}"}}'
                                ) * 3600 >= 20
        assert prometheus.value(
            f"min_over_time(queue_channel_window:cc_service_level:ratio{{{healthy}}}[{run}])"
        ) >= 0.9
        healthy_alerts.extend(s.labels for s in prometheus.query(f'ALERTS{{queue="{HEALTHY}"}}'))
        assert healthy_alerts == []
        assert [a for a in prometheus.alerts() if a["labels"].get("queue") == HEALTHY] == []
        assert [a for a in alertmanager.alerts() if a["labels"].get("queue") == HEALTHY] == []
        assert not any(a["labels"].get("queue") == HEALTHY
                       for _, payload in stack.webhooks.notifications()
                       for a in payload["alerts"])

    with capsys.disabled():
        print(f"\nServiceLevelBreach and ServiceLevelBurnRateFast firing after "
              f"{fired_after_s:.0f} s, paged after {paged_after_s:.0f} s")
