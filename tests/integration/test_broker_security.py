"""``CCPULSE_TEST_BROKER`` may be a broker with TLS or SASL: the harness gives the ``CCPULSE_*``
client security settings to what talks to that broker (commands, workers, in-process clients)
and to nothing else, since the brokers the tests start themselves are PLAINTEXT. No broker is
needed here; tests/integration/test_publish_through_kafka.py and the others run through one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from broker_security import SECURITY_VARIABLES, environment_for, security_for

from streams.errors import ConfigError
from streams.kafka import KafkaSecurity
from streams.settings import ENV_OVERRIDES


@pytest.fixture
def secure_test_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for var in (*ENV_OVERRIDES, "CCPULSE_CONFIG", "CCPULSE_SASL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / "ca.pem").write_text("a CA\n")
    (tmp_path / "password").write_text("a-password\n")
    monkeypatch.setenv("CCPULSE_TEST_BROKER", "kafka://broker.example.net:9093")
    monkeypatch.setenv("CCPULSE_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CCPULSE_SASL_USERNAME", "ccpulse")
    monkeypatch.setenv("CCPULSE_SASL_PASSWORD_FILE", str(tmp_path / "password"))
    monkeypatch.setenv("CCPULSE_SSL_CAFILE", str(tmp_path / "ca.pem"))
    return "broker.example.net:9093"


def test_the_security_variables_are_those_the_commands_read():
    assert {"CCPULSE_SECURITY_PROTOCOL", "CCPULSE_SASL_MECHANISM", "CCPULSE_SASL_USERNAME",
            "CCPULSE_SASL_PASSWORD_FILE", "CCPULSE_SASL_PASSWORD", "CCPULSE_SSL_CAFILE",
            "CCPULSE_SSL_CERTFILE", "CCPULSE_SSL_KEYFILE"} == set(SECURITY_VARIABLES)


def test_the_test_broker_gets_the_security_settings(secure_test_broker):
    security = security_for(secure_test_broker)
    assert (security.protocol, security.username, security.password) == (
        "SASL_SSL", "ccpulse", "a-password")
    env = environment_for(secure_test_broker)
    assert env["CCPULSE_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["CCPULSE_SSL_CAFILE"].endswith("ca.pem")


def test_a_broker_the_tests_start_gets_none(secure_test_broker):
    assert security_for("127.0.0.1:40123") == KafkaSecurity()
    assert set(environment_for("127.0.0.1:40123")) & set(SECURITY_VARIABLES) == set()


def test_without_a_test_broker_nothing_gets_them(secure_test_broker, monkeypatch):
    monkeypatch.delenv("CCPULSE_TEST_BROKER")
    assert security_for(secure_test_broker) == KafkaSecurity()


def test_a_bad_setting_is_the_commands_one_line_error(secure_test_broker, monkeypatch):
    monkeypatch.delenv("CCPULSE_SASL_USERNAME")
    with pytest.raises(ConfigError, match=r"needs .*sasl_username"):
        security_for(secure_test_broker)
