"""A worker started while Kafka is down says it is waiting, then stops with one line naming
the broker (it used to be silent for the 30 s it retried)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ports import free_port

from streams.cli import main
from streams.settings import ENV_OVERRIDES
from streams.worker import main as worker_main


def test_a_worker_without_kafka_says_it_waits_then_names_the_broker_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    for var in (*ENV_OVERRIDES, "CCPULSE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    broker = f"127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("CCPULSE_BROKER", broker)
    monkeypatch.setenv("CCPULSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CCPULSE_WEB_PORT", str(free_port()))
    monkeypatch.setattr(worker_main, "BROKER_WAIT_S", 3.0)  # the worker's 30 s, shortened
    monkeypatch.setattr(worker_main, "WAITING_NOTE_S", 0.5)
    assert main(["worker"]) == 1
    out, err = capfd.readouterr()
    said = [line.partition("] ccpulse worker: ")[2] for line in out.splitlines()]
    assert said == [f"waiting for Kafka at {broker} (up to 3 s)"]
    assert err.startswith(f"Error: Kafka at {broker} did not answer within 3 s")
    assert "ccpulse kafka start" in err
    assert err.count("\n") == 1
