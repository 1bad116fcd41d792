"""Live Erlang A and B from hand-built traffic (docs/contract.md §3.5), and what-if tables.

The trailing window at 10:00:30 is 09:30:00–10:00:00. Queue ``q`` (voice), threshold 20 s:

==== ======== ======================== =========================================
call queued   outcome                  in the patience estimate
==== ======== ======================== =========================================
c1   09:40:00 answered 09:40:30        wait 30 s
c2   09:41:00 abandoned 09:42:00       abandon, wait 60 s
c3   09:43:00 abandoned 09:43:03       short abandon (< 5 s) still an abandon, 3 s
c4   09:44:00 flowed out 09:46:00      wait 120 s (censored)
c5   09:59:00 still waiting            60 s, up to the window's end
c6   09:25:00 answered 09:31:00        outcome in the window: its whole wait, 360 s
c7   09:20:00 abandoned 09:29:00       outcome before the window: left out
c8   10:00:10 still waiting            queued after the window's end: 0 s
==== ======== ======================== =========================================

Abandons 2, waiting 633 s: patience 316.5 s. Offered in the window: c1–c5, λ = 5/1800 per
second. Handled: c1 (210 s) and c6 (240 s), AHT 225 s. Two agents available.
"""

from __future__ import annotations

import math

import pytest
from kpi_helpers import Centre, us

from streams.core import erlang, staffing

NOW = "2026-11-22T10:00:30Z"
KEY = {"queue": "q", "channel": "voice"}
RATE = 5 / 1800
AHT = 225.0
PATIENCE = 633 / 2


def centre(trunks: int | None = None, abandons: bool = True) -> Centre:
    queue = {"service_level": {"threshold_seconds": 20, "target_ratio": 0.8}}
    if trunks is not None:
        queue["trunks"] = trunks
    c = Centre(queues={"q": queue})

    def call(call_id: str, queued: str, outcome: str | None = None, at: str | None = None,
             **extra: str) -> None:
        c.event("call.queued", f"2026-11-22T{queued}Z", call_id=call_id, queue="q")
        if outcome is not None:
            c.event(f"call.{outcome}", f"2026-11-22T{at}Z", call_id=call_id, queue="q", **extra)

    call("c1", "09:40:00", "answered", "09:40:30", agent_id="a0")
    c.event("call.ended", "2026-11-22T09:43:30Z", call_id="c1", agent_id="a0")
    c.event("call.wrapup_ended", "2026-11-22T09:44:00Z", call_id="c1", agent_id="a0")
    if abandons:
        call("c2", "09:41:00", "abandoned", "09:42:00")
        call("c3", "09:43:00", "abandoned", "09:43:03")
    else:
        call("c2", "09:41:00", "answered", "09:42:00", agent_id="a1")
        call("c3", "09:43:00", "answered", "09:43:03", agent_id="a1")
    call("c4", "09:44:00", "flowed_out", "09:46:00", reason="timeout")
    call("c5", "09:59:00")
    call("c6", "09:25:00", "answered", "09:31:00", agent_id="a1")
    c.event("call.ended", "2026-11-22T09:34:00Z", call_id="c6", agent_id="a1")
    c.event("call.wrapup_ended", "2026-11-22T09:35:00Z", call_id="c6", agent_id="a1")
    call("c7", "09:20:00", "abandoned" if abandons else "answered", "09:29:00", agent_id="a1")
    call("c8", "10:00:10")
    for agent in ("a0", "a1"):
        c.event("agent.state_changed", "2026-11-22T08:00:00Z", agent_id=agent,
                state="available", queues=["q"])
    c.feed()
    return c


class TestPatienceEstimate:
    def test_is_waiting_time_over_abandons_in_the_trailing_window(self):
        c = centre()
        load = staffing.live_loads(c.config, [c.engine.ledger], us(NOW))[("q", "voice")]
        assert (load.abandoned, load.waiting_us) == (2, 633_000_000)
        assert load.patience_seconds == PATIENCE
        assert c.value(NOW, "cc_erlang_a_patience_seconds", **KEY) == PATIENCE

    def test_inputs_are_exported_beside_the_models(self):
        c = centre()
        assert c.value(NOW, "cc_erlang_arrival_rate_per_second", **KEY) == RATE
        assert c.value(NOW, "cc_erlang_average_handle_time_seconds", **KEY) == AHT

    @pytest.mark.parametrize(("abandoned", "waiting_us", "expected"),
                             [(2, 633_000_000, 316.5), (0, 633_000_000, None), (3, 0, None),
                              (1, 1, 1e-6)],
                             ids=["two-abandons", "no-abandon", "no-waiting", "one-microsecond"])
    def test_estimator_table(self, abandoned, waiting_us, expected):
        assert staffing.patience_seconds(abandoned, waiting_us) == expected


class TestErlangAFamilies:
    def test_are_erlang_a_with_the_staffed_agents_and_the_estimated_patience(self):
        c = centre()
        expected = erlang.erlang_a(2, RATE, AHT, PATIENCE, 20)
        assert c.value(NOW, "cc_erlang_a_predicted_service_level_ratio", **KEY) == \
            pytest.approx(expected.service_level, abs=1e-12)
        assert c.value(NOW, "cc_erlang_a_predicted_abandon_ratio", **KEY) == \
            pytest.approx(expected.abandon_probability, abs=1e-12)
        assert c.value(NOW, "cc_erlang_a_predicted_wait_probability_ratio", **KEY) == \
            pytest.approx(expected.wait_probability, abs=1e-12)
        assert c.value(NOW, "cc_erlang_a_required_agents", **KEY) == \
            erlang.required_agents_erlang_a(RATE, AHT, PATIENCE, 20, 0.8) == 2

    def test_sit_next_to_erlang_c(self):
        c = centre()
        traffic = RATE * AHT
        assert c.value(NOW, "cc_erlang_required_agents", **KEY) == \
            erlang.required_agents(traffic, AHT, 20, 0.8)
        assert c.value(NOW, "cc_erlang_predicted_service_level_ratio", **KEY) == \
            pytest.approx(erlang.service_level(2, traffic, AHT, 20), abs=1e-12)

    def test_without_abandons_no_erlang_a_series_is_exported(self):
        c = centre(abandons=False)
        values = c.values(NOW)
        assert not [name for name, _ in values if name.startswith("cc_erlang_a_")]
        assert c.value(NOW, "cc_erlang_required_agents", **KEY) is not None


class TestErlangBFamilies:
    def test_blocking_is_erlang_b_at_offered_plus_blocked_times_aht(self):
        c = centre(trunks=2)
        for i, at in enumerate(("09:50:00", "09:51:00", "09:52:00")):
            c.event("call.blocked", f"2026-11-22T{at}Z", call_id=f"b{i}", queue="q",
                    reason="no_trunks")
        c.feed(c.events[-3:])
        trunk_load = (5 + 3) / 1800 * AHT
        assert c.value(NOW, "cc_erlang_b_trunks", queue="q") == 2
        assert c.value(NOW, "cc_erlang_b_predicted_blocking_ratio", queue="q") == \
            pytest.approx(erlang.erlang_b(2, trunk_load), abs=1e-12)
        # beside the observed blocking ratio today: 3 blocked of 3 + 8 voice calls offered
        assert c.value(NOW, "cc_blocking_ratio", queue="q", window="today") == \
            pytest.approx(3 / (3 + 8))

    def test_without_a_trunks_setting_nothing_is_predicted(self):
        values = centre().values(NOW)
        assert not [name for name, _ in values if name.startswith("cc_erlang_b_")]


class TestWhatIf:
    def test_rows_run_from_two_below_to_three_above(self):
        rows = staffing.what_if(14, 100 / 1800, 180.0, 20.0, patience_seconds=300.0)
        assert [row.agents for row in rows] == [12, 13, 14, 15, 16, 17]

    def test_counts_below_one_agent_are_left_out(self):
        assert [row.agents for row in staffing.what_if(2, 0.01, 100.0, 20.0)] == [1, 2, 3, 4, 5]

    def test_reproduces_the_published_14_agent_values(self):
        row = staffing.what_if(14, 100 / 1800, 180.0, 19.8, patience_seconds=300.0)[2]
        assert round(row.erlang_c.service_level, 3) == 0.888        # pyworkforce Erlang C
        assert round(row.erlang_c.wait_probability, 3) == 0.174
        assert row.erlang_c.abandon_ratio == 0.0
        assert row.erlang_c.asa_seconds == pytest.approx(0.1741319 * 180 / 4, rel=1e-6)
        a20 = staffing.what_if(14, 100 / 1800, 180.0, 20.0, patience_seconds=300.0)[2].erlang_a
        assert round(a20.service_level, 6) == 0.916792                # pyworkforce Erlang A
        assert round(a20.abandon_ratio, 6) == 0.013984
        assert round(a20.average_wait_seconds / 60, 6) == 0.069919

    def test_unstable_erlang_c_has_infinite_asa_and_no_service(self):
        row = staffing.what_if(10, 100 / 1800, 180.0, 20.0)[0]     # 8 agents for 10 erlangs
        assert (row.agents, row.erlang_c.service_level, row.erlang_c.asa_seconds) == \
            (8, 0.0, math.inf)
        assert row.erlang_a is None

    @pytest.mark.parametrize(("call", "message"), [
        (lambda: staffing.what_if(-1, 0.1, 100, 20), "agents must be a whole number ≥ 0"),
        (lambda: staffing.what_if(5, 0.1, 0, 20), "aht_seconds must be a positive"),
        (lambda: staffing.what_if(5, -0.1, 100, 20), "arrival_rate_per_second must be"),
        (lambda: staffing.what_if(5, 0.1, 100, 20, 0.0), "patience_seconds must be a positive"),
    ], ids=["negative-agents", "zero-aht", "negative-rate", "zero-patience"])
    def test_rejects_meaningless_inputs_naming_the_value(self, call, message):
        with pytest.raises(ValueError, match=message):
            call()
