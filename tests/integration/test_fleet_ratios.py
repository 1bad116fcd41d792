"""Three workers, one Prometheus: the fleet-wide recording rules equal the single replay.

Real broker -> three ``ccpulse worker`` processes with one app id (one consumer group, so each
owns some of the partitions and exports the gauges of those only) -> Prometheus running the
shipped configuration and ``deploy/prometheus/rules/*.yml``, scraping all three. One event file
(40 simulated minutes of a busy centre, up to now) goes through the broker with
``ccpulse produce``, and the very same file goes through ``streams.replay.replay_streams``: one
engine over every contact. Once the fleet has consumed everything, the recording rules
``queue_channel_window:cc_service_level:ratio``, ``…:cc_average_speed_of_answer:seconds``,
``…:cc_abandon:ratio`` and ``…:cc_average_handle_time:seconds`` (and FCR, blocking and chat
response, which are built the same way) — Σ numerator / Σ denominator over the workers,
evaluated by Prometheus — must equal the replay's ``cc_service_level_ratio``,
``cc_average_speed_of_answer_seconds``, ``cc_abandon_ratio``, ``cc_average_handle_time_seconds``
… for every queue, channel and window, with no series more or less.

The test also proves that it can tell sum/sum from a wrong aggregation: contacts hash to
partitions by id, so every queue's contacts are split over the workers; for each of the four
KPIs at least one (queue, channel) has per-worker ratios whose ``max`` (and whose ``avg``) is
not the fleet value, so a rule using either would fail here.

Deterministic windows: the events are in the past (never ahead of the wall clock), the
business day is configured to start three hours before the test (``day_start``), so every event
is "today" and the day cannot end during the test, and when the current 15-minute interval
ends within two minutes the test first waits for the next one (whose ``interval`` window then
holds only its first seconds of events; otherwise all three windows have data, and the test
checks that they do). A comparison is only made when the interval has not changed between the
scrapes Prometheus used and the replay's ``as_of``.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_harness import Fleet, deadline_poll, monitored_fleet
from traffic import produce, recent_and_live, write_jsonl
from worker_harness import Sample, Worker

from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.metrics import Family
from streams.core.timestamps import SECOND_US
from streams.replay import replay_streams
from streams.settings import load_config
from streams.simulate.model import IntradayProfile, Scenario
from streams.simulate.scenarios import contact_centre

SEED = 4242
WORKERS = 3
PAST_MS = 40 * 60_000
#: The replay at an instant this close after an interval boundary is not compared: the rules
#: may still be computed from scrapes of the previous interval (5 s scrapes, 5 s evaluations).
BOUNDARY_GUARD_S = 20.0
#: When the current interval ends within this long, wait for the next one before starting.
INTERVAL_END_GUARD_S = 120.0
#: Compared this long after the interval began, every window has data to compare.
FULL_INTERVAL_AFTER_S = 180.0
CHECK_TIMEOUT_S = 120.0
#: Source topics that get events here (contacts and agents): every partition of them must be
#: owned by exactly one worker, and consumed.
SOURCE_TOPICS = ("cc.calls", "cc.chats", "cc.agents")
#: Partitions of every topic: as deploy/ccpulse.toml for its 3 replicas. Faust's assignor
#: gives a worker at most ceil(partitions / workers) of them: with the default 4 one of three
#: workers would own nothing.
PARTITIONS = 6
COUNTED = ("cc_events_total", "cc_events_duplicate_total", "cc_events_invalid_total")

#: Fleet rule -> the replay's (and each worker's) own gauge of the same KPI.
RULES = {
    "queue_channel_window:cc_service_level:ratio": "cc_service_level_ratio",
    "queue_channel_window:cc_average_speed_of_answer:seconds":
        "cc_average_speed_of_answer_seconds",
    "queue_channel_window:cc_abandon:ratio": "cc_abandon_ratio",
    "queue_channel_window:cc_average_handle_time:seconds": "cc_average_handle_time_seconds",
    "queue_channel_window:cc_first_contact_resolution:ratio":
        "cc_first_contact_resolution_ratio",
    "queue_window:cc_blocking:ratio": "cc_blocking_ratio",
    "queue_window:cc_chat_response_average:seconds": "cc_chat_response_average_seconds",
}
#: The KPIs whose rules must be shown to differ from max/avg of the workers' own ratios.
SPLIT_KPIS = tuple(list(RULES)[:4])
CONTACT_QUEUES = ("sales", "support", "billing")

Key = tuple[str, tuple[tuple[str, str], ...]]  # (rule, sorted labels)


def strained_centre() -> Scenario:
    """The demo centre at 1.6 times its contacts with the same agents, all day, contacts and
    agents only: service levels below 100 %, abandons, blocked calls, in every queue."""
    base = contact_centre()
    return replace(
        base,
        name="strained-centre",
        profile=IntradayProfile(((0.0, 1.0),)),  # the same at any hour the test runs
        contact_streams=tuple(replace(s, arrivals_per_hour=s.arrivals_per_hour * 1.6)
                              for s in base.contact_streams),
        agent_groups=tuple(replace(g, follows_profile=False) for g in base.agent_groups),
        ticket_streams=(), feedback=None, customers=None,
    )


def fleet_config(now_s: float) -> str:
    """Default windows (UTC, 15-minute intervals) with the business day starting on the hour
    three to four hours ago, so that it neither starts nor ends near the test; queue policies
    of their own, so that each queue's SL follows its own parts."""
    day_start = (int(now_s) // 3600 - 3) % 24
    return f"""
[defaults]
day_start = "{day_start:02d}:00"

[queues.sales.service_level]
threshold_seconds = 30

[queues.support.service_level.chat]
threshold_seconds = 60

[queues.billing.service_level]
abandons = "positive"
"""


def calendar(config: Config) -> QueueCalendar:
    """The one calendar of every queue here (the defaults; named queues change policy only)."""
    q = config.defaults
    calendars = {(s.timezone, s.interval_minutes, s.day_start_minutes)
                 for s in (q, *config.queues.values())}
    assert len(calendars) == 1, f"the test assumes one calendar, config has {calendars}"
    return QueueCalendar(q.timezone, q.interval_minutes, q.day_start_minutes)


def now_us() -> int:
    return time.time_ns() // 1000


def wait_for_fresh_interval(cal: QueueCalendar, fleet: Fleet) -> None:
    """If the current interval ends within INTERVAL_END_GUARD_S, wait until the next begins."""
    now = now_us()
    current = cal.interval_start(now)
    remaining_s = (current + cal.interval_us - now) / SECOND_US
    if remaining_s < INTERVAL_END_GUARD_S:
        deadline_poll(lambda: cal.interval_start(now_us()) != current,
                      "the next interval to begin", fleet.logs,
                      timeout_s=remaining_s + 30, every_s=0.5)


def expected_from_replay(path: Path, config: Config, as_of_us: int) -> dict[Key, float]:
    """What each rule must be at ``as_of_us``: the single replay engine's own ratio gauges."""
    with open(path, "rb") as stream:
        result = replay_streams([(path.name, stream)], config, as_of_us)
    assert result.problems == [], result.problems
    families: dict[str, Family] = {f.name: f for f in result.families()}
    out: dict[Key, float] = {}
    for rule, gauge in RULES.items():
        family = families[gauge]
        for values, value in family.samples.items():
            out[(rule, tuple(sorted(zip(family.labels, values, strict=True))))] = float(value)
    return out


def from_prometheus(fleet: Fleet, at: float) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for rule in RULES:
        for series in fleet.prometheus.query(rule, at=at):
            labels = {k: v for k, v in series.labels.items() if k != "__name__"}
            out[(rule, tuple(sorted(labels.items())))] = series.value
    return out


def differences(actual: dict[Key, float], expected: dict[Key, float]) -> list[str]:
    problems = []
    for key in sorted(set(actual) | set(expected)):
        a, b = actual.get(key), expected.get(key)
        if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            problems.append(f"{key[0]}{dict(key[1])}: prometheus={a} replay={b}")
    return problems


class CatchUp:
    """Polls whether the workers together took ``sent`` messages (valid, duplicate or
    invalid), every partition of SOURCE_TOPICS is owned by exactly one of them, and none lags
    behind; ``state`` says what the last poll saw."""

    def __init__(self, workers: list[Worker], sent: int) -> None:
        self.workers = workers
        self.sent = sent
        self.state = "(not polled yet)"

    def __call__(self) -> bool:
        consumed = 0
        owned: list[dict[tuple[str, str], float]] = []
        for worker in self.workers:
            metrics = worker.metrics()
            consumed += sum(v for (name, _), v in metrics.items() if name in COUNTED)
            owned.append({(dict(labels)["topic"], dict(labels)["partition"]): v
                          for (name, labels), v in metrics.items()
                          if name == "cc_consumer_lag_messages"})
        union = set().union(*owned)
        wanted = {(t, str(p)) for t in SOURCE_TOPICS for p in range(PARTITIONS)}
        self.state = (f"consumed {consumed} of {self.sent}; lag by worker "
                      f"{[dict(sorted(o.items())) for o in owned]}")
        return (consumed >= self.sent and all(owned) and wanted <= union
                and sum(len(o) for o in owned) == len(union)
                and not any(v for o in owned for v in o.values()))


class Comparison:
    """Polls whether every fleet rule, asked of Prometheus now, equals the replay at now (and
    no series is more or less). Not compared within BOUNDARY_GUARD_S after an interval
    boundary, nor when one passes during the poll: the rules could then still be built from
    scrapes of the interval before. ``expected`` is the replay of the last comparison."""

    def __init__(self, fleet: Fleet, path: Path, config: Config, cal: QueueCalendar) -> None:
        self.fleet, self.path, self.config, self.cal = fleet, path, config, cal
        self.replays: dict[int, dict[Key, float]] = {}  # by interval start: windows decide
        self.expected: dict[Key, float] = {}
        self.at_us = 0
        self.problems = ["(not compared yet)"]

    def __call__(self) -> bool:
        at_us = now_us()
        interval = self.cal.interval_start(at_us)
        if (at_us - interval) / SECOND_US < BOUNDARY_GUARD_S:
            self.problems = [f"(not compared: an interval began less than "
                             f"{BOUNDARY_GUARD_S:.0f} s ago)"]
            return False
        actual = from_prometheus(self.fleet, at=at_us / SECOND_US)
        if interval not in self.replays:
            self.replays[interval] = expected_from_replay(self.path, self.config, at_us)
        if self.cal.interval_start(now_us()) != interval:
            self.problems = ["(not compared: an interval boundary passed)"]
            return False
        self.expected, self.at_us = self.replays[interval], at_us
        self.problems = differences(actual, self.expected)
        return not self.problems


def per_worker(workers: list[Worker]) -> list[dict[Sample, float]]:
    return [worker.metrics() for worker in workers]


def split_evidence(scrapes: list[dict[Sample, float]], expected: dict[Key, float],
                   rule: str) -> list[str]:
    """(queue, channel) of ``today`` where max and avg of the workers' own ratio both differ
    from the fleet value: the contacts of that queue are split, and only sum/sum is right."""
    gauge = RULES[rule]
    found = []
    for queue in CONTACT_QUEUES:
        for channel in ("voice", "chat"):
            labels = (("channel", channel), ("queue", queue), ("window", "today"))
            fleet_value = expected.get((rule, labels))
            own = [scrape[(gauge, frozenset(labels))] for scrape in scrapes
                   if (gauge, frozenset(labels)) in scrape]
            if fleet_value is None or len(own) < 2:
                continue
            biggest, mean = max(own), sum(own) / len(own)
            if not math.isclose(biggest, fleet_value, rel_tol=1e-6) and \
                    not math.isclose(mean, fleet_value, rel_tol=1e-6):
                found.append(f"{queue}/{channel}: workers {[round(v, 4) for v in own]}, "
                             f"fleet {fleet_value:.4f}")
    return found


@pytest.fixture
def fleet(kafka_bootstrap: str, unique_name: str, tmp_path: Path):
    with monitored_fleet(kafka_bootstrap, unique_name, tmp_path, workers=WORKERS,
                         partitions=PARTITIONS, config_toml=fleet_config(time.time())) as running:
        yield running


def test_fleet_recording_rules_equal_the_replay_of_every_contact(
        fleet: Fleet, kafka_bootstrap: str, unique_name: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    config = load_config(tmp_path / "ccpulse.toml", environ={})
    cal = calendar(config)
    wait_for_fresh_interval(cal, fleet)
    waited_s = time.monotonic() - started

    past, _ = recent_and_live(strained_centre(), seed=SEED, past_ms=PAST_MS, live_ms=0)
    first_us = past[0][0] * 1000
    assert first_us >= cal.day_start(now_us()), "every event is today"
    assert past[-1][0] * 1000 <= now_us(), "no event is ahead of the wall clock"
    path = write_jsonl(tmp_path / "events.jsonl", past)
    produce(kafka_bootstrap, unique_name + ".", path)
    caught_up = CatchUp(fleet.workers, len(past))
    deadline_poll(caught_up, f"the {WORKERS} workers to consume the {len(past)} events",
                  lambda: f"last seen: {caught_up.state}\n{fleet.logs()}")
    caught_up_s = time.monotonic() - started

    comparison = Comparison(fleet, path, config, cal)
    deadline_poll(comparison, "the fleet recording rules to equal the replay's ratios",
                  lambda: "differences:\n" + "\n".join(comparison.problems[:30]) + "\n"
                  + fleet.logs(), timeout_s=CHECK_TIMEOUT_S, every_s=1.0)
    expected = comparison.expected
    equal_s = time.monotonic() - started

    # The comparison was not vacuous: every KPI of every contact queue and channel today.
    for rule in SPLIT_KPIS:
        for queue in CONTACT_QUEUES:
            for channel in ("voice", "chat"):
                labels = (("channel", channel), ("queue", queue), ("window", "today"))
                assert (rule, labels) in expected, f"no {rule} for {queue}/{channel} today"
    windows = sorted({dict(labels)["window"] for _, labels in expected})
    if (comparison.at_us - cal.interval_start(comparison.at_us)) / SECOND_US \
            >= FULL_INTERVAL_AFTER_S:
        assert windows == ["interval", "previous_interval", "today"]

    # Each worker owns some partitions and has its own share of every contact queue; for each
    # KPI some queue's per-worker ratios are not the fleet's, neither their max nor their avg.
    scrapes = per_worker(fleet.workers)
    for scrape in scrapes:
        offered = {dict(labels)["queue"] for (name, labels), v in scrape.items()
                   if name == "cc_window_contacts_offered" and v > 0}
        assert set(CONTACT_QUEUES) <= offered, f"a worker has no contacts of some queue: " \
                                               f"{sorted(offered)}"
    evidence = {rule: split_evidence(scrapes, expected, rule) for rule in SPLIT_KPIS}
    for rule, found in evidence.items():
        assert found, f"{rule}: every (queue, channel) has a worker ratio equal to the fleet's, " \
                      f"so this test could not tell sum/sum from max or avg"

    with capsys.disabled():
        print(f"\n{len(past)} events, waited {waited_s:.0f} s for a fresh interval, "
              f"{WORKERS} workers caught up after {caught_up_s:.0f} s, "
              f"rules equal to the replay after {equal_s:.0f} s: {len(expected)} series, "
              f"windows {windows}")
        for rule, found in evidence.items():
            print(f"  {rule}: {found[0]}")

