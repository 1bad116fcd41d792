"""What /livez and /readyz answer: the worker's health bookkeeping on a clock passed in, and
the broker check through a plain function instead of Kafka."""

from __future__ import annotations

import asyncio

import pytest

from streams.core.config import HealthSettings, parse_config
from streams.errors import ConfigError
from streams.worker.health import HealthState, check_broker

SETTINGS = HealthSettings(broker_timeout_seconds=15, stall_seconds=60,
                          check_interval_seconds=5, loop_stall_seconds=30)


def ready(state: HealthState, now_s: float, **kw: bool):
    return state.readiness(now_s, assigned=kw.get("assigned", True),
                           recovered=kw.get("recovered", True), built=kw.get("built", True))


class TestReadiness:
    def test_a_fresh_worker_with_partitions_and_tables_is_ready(self):
        verdict = ready(HealthState(SETTINGS, 100.0), 101.0)
        assert verdict.ok and verdict.reasons == []
        assert verdict.as_json()["status"] == "ok"

    @pytest.mark.parametrize(("assigned", "recovered", "built", "reason"), [
        (False, True, True, "partitions are being rebalanced"),
        (True, False, False, "tables are recovering from their changelogs"),
        (True, True, False, "the engines are being rebuilt from the recovered tables")],
        ids=["rebalancing", "recovering", "rebuilding"])
    def test_not_ready_while_rebalancing_recovering_or_rebuilding(self, assigned, recovered,
                                                                  built, reason):
        verdict = ready(HealthState(SETTINGS, 0.0), 1.0, assigned=assigned, recovered=recovered,
                        built=built)
        assert not verdict.ok and verdict.reasons == [reason]
        assert verdict.as_json()["status"] == "unavailable"

    def test_not_ready_once_the_broker_has_not_answered_for_the_timeout(self):
        state = HealthState(SETTINGS, 0.0)
        state.broker_answered(10.0, 0, 100)
        state.broker_failed(20.0, "KafkaConnectionError")
        assert ready(state, 25.0).ok  # 15 s since the last answer: not yet
        verdict = ready(state, 25.5)
        assert not verdict.ok and verdict.checks["broker"] is False
        assert verdict.reasons == ["the broker has not answered for 16 s: KafkaConnectionError"]
        state.broker_answered(26.0, 0, 100)
        assert ready(state, 26.0).ok

    def test_not_ready_when_messages_wait_and_none_is_processed_for_the_stall_time(self):
        state = HealthState(SETTINGS, 0.0)
        for t in range(0, 61, 5):  # lag grows from 5, nothing consumed (position 100)
            state.broker_answered(float(t), 5 + t // 5, 100)
        assert ready(state, 60.0).ok
        state.broker_answered(61.0, 12, 100)
        verdict = ready(state, 61.0)
        assert not verdict.ok and verdict.checks == {
            "assigned": True, "recovered": True, "built": True, "broker": True,
            "consuming": False}
        assert verdict.reasons == ["12 messages wait and none was processed for 61 s"]
        assert verdict.lag_messages == 12
        state.broker_answered(65.0, 4, 108)  # consuming again
        assert ready(state, 65.0).ok

    def test_a_quiet_topic_is_not_a_stall(self):
        state = HealthState(SETTINGS, 0.0)
        for t in range(0, 600, 5):
            state.broker_answered(float(t), 0, 100)
        assert ready(state, 600.0).ok


class TestLiveness:
    def test_alive_while_the_heartbeat_runs(self):
        state = HealthState(SETTINGS, 0.0)
        state.beat(50.0)
        assert state.liveness(80.0).ok

    def test_not_alive_once_the_loop_missed_its_heartbeat(self):
        state = HealthState(SETTINGS, 0.0)
        state.beat(50.0)
        verdict = state.liveness(81.0)
        assert not verdict.ok and verdict.reasons == ["event loop heartbeat missed for 31 s"]

    def test_the_broker_does_not_decide_liveness(self):
        state = HealthState(SETTINGS, 0.0)
        state.broker_failed(500.0, "down")
        state.beat(500.0)
        assert state.liveness(501.0).ok and not ready(state, 501.0).ok


class TestCheckBroker:
    @staticmethod
    def run(state, end_offsets, next_offsets, now_s, timeout_s=1.0):
        asyncio.run(check_broker(state, end_offsets, next_offsets, lambda: now_s, timeout_s))

    def test_lag_is_end_offsets_minus_the_next_offsets_to_process(self):
        state = HealthState(SETTINGS, 0.0)

        async def ends(partitions):
            assert partitions == [("p.cc.calls", 0), ("p.cc.calls", 1)]
            return {("p.cc.calls", 0): 10, ("p.cc.calls", 1): 3}

        self.run(state, ends, {("p.cc.calls", 0): 7, ("p.cc.calls", 1): 3}, 5.0)
        assert state.lag_messages == 3 and state.broker_ok_at == 5.0

    def test_an_error_is_a_failed_answer(self):
        state = HealthState(SETTINGS, 0.0)

        async def ends(partitions):
            raise ConnectionError("refused")

        self.run(state, ends, {}, 5.0)
        assert state.broker_error == "ConnectionError: refused" and state.broker_ok_at == 0.0

    def test_no_answer_within_the_timeout_is_a_failed_answer(self):
        state = HealthState(SETTINGS, 0.0)

        async def ends(partitions):
            await asyncio.sleep(10)

        self.run(state, ends, {}, 5.0, timeout_s=0.05)
        assert state.broker_error == "TimeoutError" and state.broker_ok_at == 0.0


class TestSettings:
    def test_defaults_and_overrides(self):
        assert parse_config({}).health == HealthSettings()
        config = parse_config({"health": {"stall_seconds": 5, "broker_timeout_seconds": 3}})
        assert (config.health.stall_seconds, config.health.broker_timeout_seconds) == (5.0, 3.0)

    @pytest.mark.parametrize(("raw", "message"), [
        ({"health": {"stall": 5}}, "unknown key health.stall; expected one of"),
        ({"health": {"stall_seconds": 0}},
         "health.stall_seconds must be a positive number of seconds, got 0"),
        ({"health": {"stall_seconds": "1m"}}, "health.stall_seconds must be a number"),
        ({"health": 5}, "health must be a table"),
        ({"wallboard": {"colour": "red"}}, "unknown key wallboard.colour; expected one of"),
        ({"wallboard": {"waiting_amber": 5, "waiting_red": 2}},
         "wallboard.waiting_red must be at least wallboard.waiting_amber (5), got 2"),
        ({"wallboard": {"sl_amber_margin": 5}}, "wallboard.sl_amber_margin is a ratio"),
        ({"wallboard": {"timezone": "Mars/Olympus"}},
         "wallboard.timezone: unknown time zone 'Mars/Olympus'"),
    ], ids=["unknown-health-key", "zero-seconds", "not-a-number", "not-a-table",
            "unknown-wallboard-key", "red-below-amber", "margin-not-a-ratio", "bad-zone"])
    def test_a_bad_value_is_a_one_line_error_naming_the_key(self, raw, message):
        with pytest.raises(ConfigError) as caught:
            parse_config(raw)
        assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
