"""``produce``, ``simulate`` and ``demo`` take broker and topic prefix from one resolution
(``streams.settings.kafka_target``): flag > environment > ``[worker]`` in the TOML file
(``--config`` or ``CCPULSE_CONFIG``) > default. No broker is needed: the publisher is replaced
by one that records where it would have connected."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

import streams.produce_cli
import streams.simulate.cli
from streams.cli import main
from streams.demo import child_env
from streams.kafka.security import KafkaSecurity
from streams.publish import LINGER_MS, LIVE_LINGER_MS, PublishReport
from streams.settings import ENV_OVERRIDES, KafkaTarget

WORKER_TOML = '[worker]\nbroker = "toml-host:9092"\ntopic_prefix = "toml."\n'


class RecordingPublisher:
    """Stands in for ``streams.publish.Publisher``: remembers its broker and prefix."""

    opened: ClassVar[list[KafkaTarget]] = []
    lingers: ClassVar[list[int]] = []

    def __init__(self, broker: str, *, topic_prefix: str = "",
                 security: KafkaSecurity | None = None, linger_ms: int = LINGER_MS) -> None:
        self.opened.append(KafkaTarget(broker, topic_prefix, security or KafkaSecurity()))
        self.lingers.append(linger_ms)
        self.topic_prefix = topic_prefix
        self.report = PublishReport()

    async def __aenter__(self) -> RecordingPublisher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def send_lines(self, lines, topic=None) -> None:
        for _ in lines:
            pass


async def _send_nothing(events, publisher, tick) -> None:
    return None


@pytest.fixture
def opened(monkeypatch) -> list[KafkaTarget]:
    for var in (*ENV_OVERRIDES, "CCPULSE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(RecordingPublisher, "opened", [])
    monkeypatch.setattr(RecordingPublisher, "lingers", [])
    monkeypatch.setattr(streams.produce_cli, "Publisher", RecordingPublisher)
    monkeypatch.setattr(streams.simulate.cli, "Publisher", RecordingPublisher)
    monkeypatch.setattr(streams.simulate.cli, "send_to_kafka", _send_nothing)
    return RecordingPublisher.opened


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "ccpulse.toml"
    path.write_text(WORKER_TOML)
    return path


def _command(name: str, tmp_path: Path) -> list[str]:
    if name == "produce":
        events = tmp_path / "events.jsonl"
        events.write_text('{"type":"call.queued","call_id":"c1"}\n')
        return ["produce", str(events)]
    return ["simulate", "--duration", "1s", "--speed", "1000", "--seed", "1",
            "--start", "2026-11-22T09:00:00Z"]


@pytest.mark.parametrize("command", ["produce", "simulate"])
@pytest.mark.parametrize(
    ("config_via", "environ", "flags", "expected"),
    [("--config", {}, [], KafkaTarget("toml-host:9092", "toml.")),
     ("CCPULSE_CONFIG", {}, [], KafkaTarget("toml-host:9092", "toml.")),
     ("--config", {"CCPULSE_BROKER": "env-host:9092", "CCPULSE_TOPIC_PREFIX": "env."}, [],
      KafkaTarget("env-host:9092", "env.")),
     ("--config", {"CCPULSE_BROKER": "env-host:9092", "CCPULSE_TOPIC_PREFIX": "env."},
      ["--broker", "flag-host:9092", "--topic-prefix", "flag."],
      KafkaTarget("flag-host:9092", "flag.")),
     (None, {}, [], KafkaTarget("kafka://localhost:9092", ""))],
    ids=["toml-via-option", "toml-via-env", "env-over-toml", "flag-over-env", "defaults"],
)
def test_broker_and_prefix_resolve_flag_env_toml_default(command, config_via, environ, flags,
                                                         expected, opened, toml, tmp_path,
                                                         monkeypatch):
    argv = _command(command, tmp_path) + flags
    if config_via == "--config":
        argv += ["--config", str(toml)]
    elif config_via == "CCPULSE_CONFIG":
        monkeypatch.setenv("CCPULSE_CONFIG", str(toml))
    for var, value in environ.items():
        monkeypatch.setenv(var, value)
    assert main(argv) == 0
    assert opened == [expected]


@pytest.mark.parametrize(("command", "linger_ms"),
                         [("produce", LINGER_MS), ("simulate", LIVE_LINGER_MS)])
def test_the_simulator_sends_as_a_live_source_and_produce_in_bulk(command, linger_ms, opened,
                                                                  tmp_path):
    """A live feed's events go out within 5 ms (the floor sees them sooner); a file sent with
    ``produce`` waits up to 100 ms for fuller batches."""
    assert main(_command(command, tmp_path)) == 0
    assert RecordingPublisher.lingers == [linger_ms]
    assert (LIVE_LINGER_MS, LINGER_MS) == (5, 100)


@pytest.mark.parametrize("command", ["produce", "simulate"])
def test_security_settings_reach_the_publisher(command, opened, tmp_path, monkeypatch):
    password = tmp_path / "password"
    password.write_text("pw\n")
    toml = tmp_path / "secure.toml"
    toml.write_text('[worker]\nsecurity_protocol = "SASL_PLAINTEXT"\nsasl_username = "u"\n'
                    f'sasl_password_file = "{password}"\n')
    monkeypatch.setenv("CCPULSE_SASL_USERNAME", "env-user")
    assert main([*_command(command, tmp_path), "--config", str(toml)]) == 0
    assert [t.security for t in opened] == [KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-512",
                                                          "env-user", "pw")]


@pytest.mark.parametrize("command", ["produce", "simulate"])
def test_an_invalid_config_is_a_one_line_error_naming_the_key(command, opened, tmp_path,
                                                              capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[worker]\nbrokers = "x"\n')
    assert main([*_command(command, tmp_path), "--config", str(bad)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"Error: config file '{bad}': unknown key worker.brokers; ")
    assert opened == []


class TestDemo:
    def test_worker_and_simulator_get_the_demo_broker_and_the_configured_prefix(self, toml):
        env = child_env({"PATH": "/bin", "CCPULSE_BROKER": "elsewhere:9092"},
                        KafkaTarget("127.0.0.1:9092", "toml."), str(toml))
        assert env == {"PATH": "/bin", "CCPULSE_BROKER": "127.0.0.1:9092",
                       "CCPULSE_TOPIC_PREFIX": "toml.", "CCPULSE_CONFIG": str(toml.resolve())}

    def test_an_empty_prefix_is_passed_on_explicitly(self):
        env = child_env({"CCPULSE_TOPIC_PREFIX": "stale."}, KafkaTarget("b:1", ""), None)
        assert env == {"CCPULSE_BROKER": "b:1", "CCPULSE_TOPIC_PREFIX": ""}

    def test_a_secure_demo_broker_gives_its_security_settings_not_a_password(self, tmp_path):
        from streams.kafka import LocalBroker

        broker = LocalBroker(state_dir=tmp_path, secure=True)
        env = child_env({"CCPULSE_SASL_PASSWORD": "configured", "CCPULSE_SASL_USERNAME": "me"},
                        KafkaTarget("b:1", ""), None, broker.client_environment())
        assert env == {"CCPULSE_BROKER": "b:1", "CCPULSE_TOPIC_PREFIX": "",
                       "CCPULSE_SECURITY_PROTOCOL": "SASL_SSL",
                       "CCPULSE_SASL_MECHANISM": "SCRAM-SHA-512",
                       "CCPULSE_SASL_USERNAME": "ccpulse",
                       "CCPULSE_SASL_PASSWORD_FILE": str(broker.password_path),
                       "CCPULSE_SSL_CAFILE": str(broker.ca_path)}
