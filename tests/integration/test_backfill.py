"""A simulated week, backfilled into a real Prometheus, answers as the replay does.

The simulator writes a week of the contact centre at a fifth of its demand (every event type,
a quarter of the events: the test stays near a minute on two shared cores);
``ccpulse backfill --step 15m`` turns it, gzipped, into
day files; ``promtool tsdb create-blocks-from openmetrics`` imports each into a fresh data
directory; a real ``prometheus`` serves it. At instants inside the week, every ``cc_`` series
Prometheus has (the query a dashboard's selectors narrow down) must be the series of
``ccpulse replay FILE --as-of T``, value for value, and so must a fleet-style ratio (sum of
numerators over sum of denominators). The step is longer than Prometheus's 5-minute lookback,
so an instant sees only the samples stamped at it.

No Kafka here: the replay is the reference, the worker is not involved.
"""

from __future__ import annotations

import gzip
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from prometheus_harness import HistoryPrometheus, Series, require_binary
from worker_harness import free_port

from streams.core.timestamps import parse_us
from streams.simulate.generator import timed_events
from streams.simulate.model import IntradayProfile, Scenario
from streams.simulate.scenarios import WEEKDAY_PROFILE, contact_centre
from streams.simulate.sinks import write_jsonl

START = "2026-03-02T00:00:00Z"  # a Monday
SEED = 20260302
WEEK_MS = 7 * 86_400_000
#: Inside the week, on 15-minute boundaries: a weekday morning, an afternoon, the weekend.
INSTANTS = ("2026-03-03T10:15:00Z", "2026-03-07T16:45:00Z")
COMMAND_TIMEOUT_S = 300


def quiet_contact_centre() -> Scenario:
    """The contact centre at a fifth of its demand (agents follow it, so it stays served)."""
    profile = IntradayProfile(tuple((hour, level / 5) for hour, level in WEEKDAY_PROFILE.steps))
    return replace(contact_centre(), profile=profile)


def ccpulse(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "streams.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes]) -> bytes:
    out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}:\n{err.decode()}"
    return out


def replay_series(exposition: bytes) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(exposition.decode())
            for s in fam.samples if s.name.startswith("cc_")}


def prometheus_series(result: list[Series]) -> dict[tuple[str, frozenset], float]:
    return {(labels.pop("__name__"), frozenset(labels.items())): value
            for labels, value in ((dict(s.labels), s.value) for s in result)}


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def test_a_backfilled_week_answers_queries_as_the_replay_does(tmp_path: Path):
    promtool = require_binary("PROMTOOL", "promtool")
    archive = tmp_path / "week.jsonl"
    with open(archive, "wb") as out:
        write_jsonl(timed_events(quiet_contact_centre(), seed=SEED,
                                 start_ms=parse_us(START) // 1000, duration_ms=WEEK_MS), out)
    packed = tmp_path / "week.jsonl.gz"  # the backfill reads it gzipped, the replay plain
    with open(archive, "rb") as src, gzip.open(packed, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    out = tmp_path / "om"
    # the reference replays run beside the backfill (two cores)
    replays = {at: ccpulse("replay", str(archive), "--as-of", at) for at in INSTANTS}
    backfill = ccpulse("backfill", str(packed), "--out", str(out), "--step", "15m")
    expected = {at: replay_series(finish(proc)) for at, proc in replays.items()}
    finish(backfill)
    days = sorted(out.glob("ccpulse-*.om"))
    assert [p.name for p in days] == [f"ccpulse-2026-03-{d:02d}.om" for d in range(2, 10)]

    prom = HistoryPrometheus(tmp_path / "prom", free_port())
    prom.import_openmetrics(promtool, days, COMMAND_TIMEOUT_S)
    prom.start()
    try:
        for at in INSTANTS:
            t = parse_us(at) / 1e6
            want = expected[at]
            got = prometheus_series(prom.query('{__name__=~"cc_.+"}', at=t))
            assert set(got) == set(want), (
                f"{at}: only in Prometheus {sorted(set(got) - set(want))[:5]}, only in the "
                f"replay {sorted(set(want) - set(got))[:5]}")
            wrong = [(k, got[k], want[k]) for k in want if not same(got[k], want[k])]
            assert not wrong, f"{at}: {len(wrong)} values differ, e.g. {wrong[:5]}"
            assert any(name == "cc_window_contacts_offered" and value > 0
                       for (name, _), value in want.items()), "a quiet instant proves little"

            # a dashboard query: fleet-wide service level today, sum over sum
            ratio = prom.query(
                'sum by (queue, channel) (cc_window_contacts_service_level_met{window="today"})'
                ' / sum by (queue, channel) '
                '(cc_window_contacts_service_level_counted{window="today"})', at=t)
            replayed = {dict(labels)["queue"] + "/" + dict(labels)["channel"]: value
                        for (name, labels), value in want.items()
                        if name == "cc_service_level_ratio" and ("window", "today") in labels}
            assert {s.labels["queue"] + "/" + s.labels["channel"]: s.value
                    for s in ratio if not math.isnan(s.value)} == replayed
    finally:
        prom.stop()
