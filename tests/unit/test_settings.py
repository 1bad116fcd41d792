"""Deployment settings resolve in one order for every command (contract §6): command-line flag >
``CCPULSE_*`` environment variable > the TOML file's ``[worker]`` key > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import KafkaTarget, kafka_target, load_config

WORKER_TOML = '[worker]\nbroker = "toml-host:9092"\ntopic_prefix = "toml."\n'
DEFAULT = KafkaTarget("kafka://localhost:9092", "")


@pytest.fixture
def toml(tmp_path: Path) -> str:
    path = tmp_path / "ccpulse.toml"
    path.write_text(WORKER_TOML)
    return str(path)


class TestKafkaTarget:
    @pytest.mark.parametrize(
        ("use_file", "environ", "flags", "expected"),
        [(False, {}, {}, DEFAULT),
         (True, {}, {}, KafkaTarget("toml-host:9092", "toml.")),
         (True, {"CCPULSE_BROKER": "env-host:9092"}, {},
          KafkaTarget("env-host:9092", "toml.")),
         (True, {"CCPULSE_TOPIC_PREFIX": "env."}, {},
          KafkaTarget("toml-host:9092", "env.")),
         (True, {"CCPULSE_BROKER": "env-host:9092", "CCPULSE_TOPIC_PREFIX": "env."},
          {"broker": "flag-host:9092", "topic_prefix": "flag."},
          KafkaTarget("flag-host:9092", "flag.")),
         (False, {"CCPULSE_BROKER": "env-host:9092"}, {"topic_prefix": "flag."},
          KafkaTarget("env-host:9092", "flag."))],
        ids=["defaults", "toml-worker-section", "env-broker-over-toml", "env-prefix-over-toml",
             "flags-over-env", "each-setting-resolved-on-its-own"],
    )
    def test_flag_over_environment_over_file_over_default(self, toml, use_file, environ, flags,
                                                          expected):
        config = load_config(toml if use_file else None, environ=environ)
        assert kafka_target(config, **flags) == expected

    def test_the_file_can_come_from_ccpulse_config(self, toml):
        config = load_config(None, environ={"CCPULSE_CONFIG": toml})
        assert kafka_target(config) == KafkaTarget("toml-host:9092", "toml.")

    def test_an_empty_prefix_is_a_choice_at_every_level(self, toml):
        config = load_config(toml, environ={"CCPULSE_TOPIC_PREFIX": ""})
        assert kafka_target(config).topic_prefix == ""
        assert kafka_target(load_config(toml, environ={}), topic_prefix="").topic_prefix == ""

    def test_an_empty_broker_falls_through_to_the_next_level(self, toml):
        config = load_config(toml, environ={"CCPULSE_BROKER": ""})
        assert kafka_target(config, broker="").broker == "toml-host:9092"


def test_a_web_port_beyond_65535_in_the_environment_is_a_one_line_error():
    import pytest

    from streams.errors import ConfigError
    from streams.settings import load_config

    with pytest.raises(ConfigError, match=r"CCPULSE_WEB_PORT must be a TCP port, 1 to 65535"):
        load_config(None, environ={"CCPULSE_WEB_PORT": "70000"})
