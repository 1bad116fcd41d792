"""Erlang C staffing gauges from live traffic (contract §3.5), against the published oracle:
100 calls per 30 minutes, AHT 180 s, threshold 19.8 s, 14 agents → service level 0.888."""

from __future__ import annotations

import pytest
from kpi_helpers import Centre

NOW = "2026-11-22T10:00:30Z"  # the trailing window is 09:30:00–10:00:00


def busy_half_hour(target: float, agents: int) -> Centre:
    c = Centre(defaults={"service_level": {"threshold_seconds": 19.8, "target_ratio": target}})
    for i in range(100):  # 100 arrivals spread over 09:30–09:59:42
        second = i * 18
        at = f"2026-11-22T09:{30 + second // 60:02d}:{second % 60:02d}Z"
        c.event("call.queued", at, call_id=f"c{i}", queue="q")
    for i in range(10):  # AHT 180 s from contacts handled in the window
        c.event("call.queued", "2026-11-22T09:29:00Z", call_id=f"h{i}", queue="q")
        c.event("call.answered", "2026-11-22T09:40:00Z", call_id=f"h{i}", queue="q",
                agent_id="a")
        c.event("call.ended", "2026-11-22T09:42:30Z", call_id=f"h{i}", agent_id="a")
        c.event("call.wrapup_ended", "2026-11-22T09:43:00Z", call_id=f"h{i}", agent_id="a")
    for a in range(agents):
        c.event("agent.state_changed", "2026-11-22T08:00:00Z", agent_id=f"a{a}",
                state="available", queues=["q"])
    c.event("agent.state_changed", "2026-11-22T08:00:00Z", agent_id="away", state="not_ready",
            queues=["q"])
    c.feed()
    return c


def test_required_agents_and_predicted_service_level_match_erlang_c():
    c = busy_half_hour(target=0.88, agents=14)
    assert c.value(NOW, "cc_erlang_required_agents", queue="q", channel="voice") == 14
    assert c.value(NOW, "cc_erlang_predicted_service_level_ratio", queue="q",
                   channel="voice") == pytest.approx(0.888, abs=5e-4)


def test_fewer_staffed_agents_than_the_load_predict_no_service():
    c = busy_half_hour(target=0.8, agents=9)  # 9 agents < 10 erlangs
    assert c.value(NOW, "cc_erlang_predicted_service_level_ratio", queue="q",
                   channel="voice") == 0.0
    assert c.value(NOW, "cc_erlang_required_agents", queue="q", channel="voice") == 14
