"""``ccpulse kafka start`` prints what a client needs and refuses a broker started the other
way (docs/security.md, "A secure local broker"). No broker runs: the running broker is a pid
file and a ``server.properties`` that the process check is told to accept."""

from __future__ import annotations

from pathlib import Path

import pytest

import streams.kafka.local_broker
from streams.cli import main
from streams.kafka import LocalBroker
from streams.kafka.local_broker import BrokerStatus

PORT, CONTROLLER_PORT = 19192, 19193


def _pretend_running(monkeypatch: pytest.MonkeyPatch, broker: LocalBroker) -> None:
    """``broker``'s state directory looks like that of a broker running as pid 4242."""
    broker._write_config()
    broker.pid_path.write_text("4242\n")
    monkeypatch.setattr(streams.kafka.local_broker._process, "is_broker_process",
                        lambda pid, config_path: pid == 4242)


def _start(state_dir: Path, *more: str) -> list[str]:
    return ["kafka", "start", "--state-dir", str(state_dir), "--port", str(PORT),
            "--controller-port", str(CONTROLLER_PORT), *more]


def test_secure_start_prints_the_broker_among_the_client_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # with --port the default broker of the clients (localhost:9092) is wrong: say which
    def started(self: LocalBroker, timeout_s: float = 60.0) -> BrokerStatus:
        return BrokerStatus(True, 4242, self.bootstrap, self.log_path)

    monkeypatch.setattr(LocalBroker, "start", started)
    monkeypatch.setattr(LocalBroker, "status", lambda self: BrokerStatus(
        False, None, self.bootstrap, self.log_path))
    assert main(_start(tmp_path, "--secure")) == 0
    lines = capsys.readouterr().out.splitlines()
    settings = [line.strip() for line in lines if line.startswith("  CCPULSE_")]
    assert settings[0] == f"CCPULSE_BROKER=127.0.0.1:{PORT}"
    assert "CCPULSE_SECURITY_PROTOCOL=SASL_SSL" in settings
    assert f"CCPULSE_SSL_CAFILE={tmp_path / 'secure' / 'ca.pem'}" in settings


def test_plain_start_over_a_running_secure_broker_names_secure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _pretend_running(monkeypatch, LocalBroker(state_dir=tmp_path, port=PORT,
                                              controller_port=CONTROLLER_PORT, secure=True))
    assert main(_start(tmp_path)) == 1
    assert capsys.readouterr().err == (
        f"Error: Kafka (pid 4242) is already running from {tmp_path} with --secure (SASL_SSL); "
        "add --secure to use it, or stop it with `ccpulse kafka stop` first to change how it "
        "listens\n")


def test_secure_start_over_a_running_plain_broker_says_it_is_plain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _pretend_running(monkeypatch, LocalBroker(state_dir=tmp_path, port=PORT,
                                              controller_port=CONTROLLER_PORT))
    assert main(_start(tmp_path, "--secure")) == 1
    assert capsys.readouterr().err == (
        f"Error: Kafka (pid 4242) is already running from {tmp_path} without --secure "
        "(PLAINTEXT); leave out --secure to use it, or stop it with `ccpulse kafka stop` first "
        "to change how it listens\n")
    assert not (tmp_path / "secure").exists()  # nothing generated for a broker it cannot use


def test_start_with_the_same_settings_is_not_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = LocalBroker(state_dir=tmp_path, port=PORT, controller_port=CONTROLLER_PORT,
                         secure=True)
    _pretend_running(monkeypatch, broker)
    broker._check_same_config(4242)  # no error: start goes on to wait for it
