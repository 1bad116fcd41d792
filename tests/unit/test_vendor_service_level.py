"""The service-level settings of docs/service-level.md reproduce each platform's number.

One row per platform variant: the policy the doc gives, a few calls, and the service level the
platform itself would report for them, computed by hand with the platform's formula (shown in
each row's comment). Every call queues at 10:00:00 in queue ``q`` and leaves after the given
wait, so all outcomes fall in the 10:00-10:15 interval.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kpi_helpers import Centre

DOC = Path(__file__).resolve().parents[2] / "docs" / "service-level.md"
QUEUED = "2026-11-22T10:00:00Z"
NOW = "2026-11-22T10:05:00Z"


class Platform(NamedTuple):
    name: str
    policy: dict[str, Any]
    #: (outcome, wait in seconds): answered | abandoned | a flow-out reason
    calls: tuple[tuple[str, int], ...]
    service_level: float


def _policy(abandons: str, flow_outs: str | dict[str, str], short: int,
            threshold: int) -> dict[str, Any]:
    return {"abandons": abandons, "flow_outs": flow_outs, "short_abandon_seconds": short,
            "threshold_seconds": threshold}


PLATFORMS = [
    # (answered 1 of 2 in time) / (answered 2 + abandoned 2 - short 1); flow-out not counted
    Platform("Genesys Cloud", _policy("negative", "ignored", 10, 20),
             (("answered", 5), ("answered", 30), ("abandoned", 3), ("abandoned", 15),
              ("timeout", 25)), 1 / 3),
    # Include Flowouts: + 1 flow-out in the denominator -> 1 / 4
    Platform("Genesys Cloud, Include Flowouts", _policy("negative", "negative", 10, 20),
             (("answered", 5), ("answered", 30), ("abandoned", 3), ("abandoned", 15),
              ("timeout", 25)), 1 / 4),
    # Include Abandons off: 1 / (answered 2 + abandoned 1 - abandons 1) = 1 / 2
    Platform("Genesys Cloud, abandons excluded", _policy("ignored", "ignored", 10, 20),
             (("answered", 5), ("answered", 30), ("abandoned", 15), ("timeout", 25)), 1 / 2),
    # ServiceLevelCalls 1 / ServiceLevelCallsOffered 4 (A5-10, A40, B12, B60; the 2 s abandon
    # is a short call)
    Platform("Cisco UCCE, abandoned calls have negative impact",
             _policy("negative", "ignored", 5, 20),
             (("answered", 10), ("answered", 40), ("abandoned", 2), ("abandoned", 12),
              ("abandoned", 60)), 1 / 4),
    # (ServiceLevelCalls 1 + ServiceLevelAband 1) / ServiceLevelCallsOffered 4
    Platform("Cisco UCCE, abandoned calls have positive impact",
             _policy("positive", "ignored", 5, 20),
             (("answered", 10), ("answered", 40), ("abandoned", 2), ("abandoned", 12),
              ("abandoned", 60)), 2 / 4),
    # ServiceLevelCalls 1 / (ServiceLevelCallsOffered 3 - ServiceLevelAband 1); no abandon
    # after the threshold, where UCCE and ccpulse differ (see the doc)
    Platform("Cisco UCCE, ignore abandoned calls", _policy("ignored", "ignored", 5, 20),
             (("answered", 10), ("answered", 40), ("abandoned", 2), ("abandoned", 12)), 1 / 2),
    # callscompletedinsl 1 / callscompleted 2 (abandons and the timeout exit are ignored)
    Platform("Asterisk SL", _policy("ignored", "ignored", 0, 60),
             (("answered", 30), ("answered", 90), ("abandoned", 2), ("abandoned", 45),
              ("timeout", 120)), 1 / 2),
    # (callsabandonedinsl 2 + callscompletedinsl 1) / (callsabandoned 3 + callscompleted 2):
    # Asterisk records the timeout exit (120 s, after the 60 s level) as abandoned and the key
    # exit (caller_choice) in neither counter
    Platform("Asterisk SL2",
             _policy("positive", {"timeout": "positive", "overflow": "positive",
                                  "callback": "positive", "caller_choice": "ignored"}, 0, 60),
             (("answered", 30), ("answered", 90), ("abandoned", 2), ("abandoned", 45),
              ("timeout", 120), ("caller_choice", 10)), 3 / 5),
    # removed from the queue within 20 s (answer 10, abandon 8, callback 12) / queued 4
    Platform("Amazon Connect, Service level X", _policy("positive", "positive", 0, 20),
             (("answered", 10), ("abandoned", 8), ("callback", 12), ("answered", 45)), 3 / 4),
    # handled within 60 s 1 / (handled 2 + abandoned 2 - short abandoned 1)
    Platform("Twilio Flex", _policy("negative", "ignored", 5, 60),
             (("answered", 30), ("answered", 75), ("abandoned", 4), ("abandoned", 20)), 1 / 3),
]


def _after(seconds: int) -> str:
    minutes, second = divmod(seconds, 60)
    return f"2026-11-22T10:{minutes:02d}:{second:02d}Z"


def _outcome(c: Centre, call_id: str, outcome: str, wait_s: int) -> None:
    at = _after(wait_s)
    if outcome == "answered":
        c.event("call.answered", at, call_id=call_id, queue="q", agent_id="a1")
    elif outcome == "abandoned":
        c.event("call.abandoned", at, call_id=call_id, queue="q")
    else:
        c.event("call.flowed_out", at, call_id=call_id, queue="q", reason=outcome)


@pytest.mark.parametrize("platform", PLATFORMS, ids=[p.name for p in PLATFORMS])
def test_the_documented_settings_reproduce_the_platforms_service_level(platform):
    c = Centre(defaults={"service_level": platform.policy})
    for number, (outcome, wait_s) in enumerate(platform.calls, start=1):
        c.event("call.queued", QUEUED, call_id=f"c{number}", queue="q")
        _outcome(c, f"c{number}", outcome, wait_s)
    c.feed()
    assert c.value(NOW, "cc_service_level_ratio", queue="q", channel="voice",
                   window="interval") == pytest.approx(platform.service_level)


def _documented() -> dict[str, dict[str, Any]]:
    """Platform name -> service_level table, from the table rows of docs/service-level.md."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (.+?) \| `(service_level = \{.+\})` \|", line)
        if match:
            rows[match.group(1)] = tomllib.loads(match.group(2))["service_level"]
    return rows


def test_the_doc_table_lists_exactly_the_tested_settings():
    assert _documented() == {p.name: p.policy for p in PLATFORMS}
