"""How fast a dead worker's partitions move on: the consumer group's session settings."""

from __future__ import annotations

from streams.core.config import parse_config
from streams.worker.app import HEARTBEAT_INTERVAL_S, SESSION_TIMEOUT_S, build_pipeline


def test_a_silent_worker_loses_its_partitions_after_10_seconds_not_faust_s_60() -> None:
    conf = build_pipeline(parse_config({})).app.conf
    assert conf.broker_session_timeout == SESSION_TIMEOUT_S == 10.0
    assert conf.broker_heartbeat_interval == HEARTBEAT_INTERVAL_S == 3.0
    # Faust's own constraints: heartbeats well inside the session, requests outlive it
    assert conf.broker_heartbeat_interval * 3 <= conf.broker_session_timeout
    assert conf.broker_request_timeout >= conf.broker_session_timeout
