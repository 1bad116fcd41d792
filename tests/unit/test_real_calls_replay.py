"""A real day of calls (Anonymous Bank, Technion SEE lab) through the replay engine.

The data set's README gives figures computed independently from the CSV; the replay of the
same calls as contract §1 events must reproduce them. Read from ../shared/data; skipped if absent.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from streams.core.config import parse_config
from streams.replay import replay_streams

DATA = (Path(__file__).resolve().parents[3] / "shared" / "data" / "anonymous-bank-call-centre"
        / "calls_one_day.csv")
ZONE = ZoneInfo("Asia/Jerusalem")

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"real data not found at {DATA}")


def _instant(date: str, clock: str) -> datetime:
    h, m, s = (int(x) for x in clock.split(":"))
    return datetime.fromisoformat(date).replace(tzinfo=ZONE) + timedelta(hours=h, minutes=m,
                                                                         seconds=s)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def events_from_csv(path: Path) -> list[dict]:
    """Queued calls as events: queued at q_start, answered/abandoned q_time later, then the
    service (ser_exit) as ended + wrap-up. Call ids repeat in the file: the row makes them
    unique. PHANTOM rows (unknown outcome) only queue."""
    out: list[dict] = []
    with path.open(newline="") as f:
        for row_no, row in enumerate(csv.DictReader(f), start=2):
            if row["q_start"] == "0:00:00":
                continue
            call = f"{row['call_id']}-{row_no}"
            queue = row["type"]
            queued = _instant(row["date"], row["q_start"])
            base = {"call_id": call, "queue": queue}
            out.append({"event_id": f"{call}-q", "type": "call.queued",
                        "occurred_at": _iso(queued), **base})
            left = queued + timedelta(seconds=int(row["q_time"]))
            if row["outcome"] == "AGENT":
                agent = row["server"]
                out.append({"event_id": f"{call}-a", "type": "call.answered",
                            "occurred_at": _iso(left), "agent_id": agent, **base})
                done = max(left, _instant(row["date"], row["ser_exit"]))
                out.append({"event_id": f"{call}-e", "type": "call.ended",
                            "occurred_at": _iso(done), "call_id": call, "agent_id": agent})
                out.append({"event_id": f"{call}-w", "type": "call.wrapup_ended",
                            "occurred_at": _iso(done), "call_id": call, "agent_id": agent})
            elif row["outcome"] == "HANG":
                out.append({"event_id": f"{call}-h", "type": "call.abandoned",
                            "occurred_at": _iso(left), **base})
    return out


def test_replay_of_a_real_day_reproduces_the_published_figures():
    events = events_from_csv(DATA)
    queues = sorted({e["queue"] for e in events if "queue" in e})
    # 300 s threshold and no short-abandon exclusion: the README's figures count every hang-up.
    policy = {"threshold_seconds": 300, "short_abandon_seconds": 0}
    config = parse_config({"defaults": {"timezone": "Asia/Jerusalem",
                                        "service_level": policy}})
    payload = b"".join(orjson.dumps(e) + b"\n" for e in events)
    as_of = int(_instant("2010-08-01", "23:59:59").timestamp()) * 1_000_000
    result = replay_streams([("calls.jsonl", io.BytesIO(payload))], config, as_of)
    assert result.problems == []
    fams = {f.name: f for f in result.families()}

    def total(name: str, **labels: str) -> float:
        fam = fams[name]
        return sum(v for lv, v in fam.samples.items()
                   if all(dict(zip(fam.labels, lv, strict=True))[k] == x
                          for k, x in labels.items()))

    answered = total("cc_contacts_answered_total")
    abandoned = total("cc_contacts_abandoned_total")
    assert answered == 1243
    assert abandoned == 728
    assert abandoned / (answered + abandoned) == pytest.approx(0.3694, abs=5e-5)
    within = total("cc_contacts_answered_within_threshold_total")
    assert within / answered == pytest.approx(0.8528, abs=5e-5)
    waits = fams["cc_contact_wait_seconds"]
    wait_sum = sum(s for lv, (_, _, s) in waits.samples.items() if lv[2] == "answered")
    assert wait_sum / answered == pytest.approx(163.9, abs=0.05)
    # Today's windowed abandon ratio over all queues equals the day's figure too.
    today = {q: lv for q in queues for lv in fams["cc_window_contacts_answered"].samples
             if lv[0] == q and lv[2] == "today"}
    assert sum(fams["cc_window_contacts_answered"].samples[lv] for lv in today.values()) == 1243
    # The 18 PHANTOM calls never got an outcome: by midnight they are stale, not waiting.
    assert total("cc_queue_contacts_waiting") + total("cc_contacts_stale_total") == 18
