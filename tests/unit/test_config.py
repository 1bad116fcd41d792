"""Configuration parsing (SPEC §6): defaults, overrides, and errors that name the key."""

from __future__ import annotations

import pytest

from streams.core.config import parse_config
from streams.errors import ConfigError
from streams.settings import load_config

SPEC_EXAMPLE = """
[defaults]
timezone = "UTC"
interval_minutes = 15
day_start = "00:00"
backlog_age_seconds = 86400
stale_after_seconds = 14400

[defaults.service_level]
threshold_seconds = 20
target_ratio = 0.8
short_abandon_seconds = 5
abandons = "negative"
flow_outs = "ignored"

[limits]
max_queues = 500
ticket_categories = ["billing", "technical", "shipping", "returns", "sales", "cancellation"]

[queues.sales]
timezone = "Europe/Lisbon"
service_level = { threshold_seconds = 30 }

[queues.support.service_level.chat]
threshold_seconds = 60
"""


def test_spec_example_file_parses_with_overrides(tmp_path):
    path = tmp_path / "ccpulse.toml"
    path.write_text(SPEC_EXAMPLE)
    config = load_config(path, environ={})
    assert config.queue("sales").timezone == "Europe/Lisbon"
    assert config.policy("sales", "voice").threshold_seconds == 30
    assert config.policy("sales", "voice").target_ratio == 0.8
    assert config.policy("support", "chat").threshold_seconds == 60
    assert config.policy("support", "voice").threshold_seconds == 20
    assert config.policy("elsewhere", "voice").threshold_seconds == 20
    assert 30.0 in config.histogram_bounds_seconds()
    assert 60.0 in config.histogram_bounds_seconds()


def test_environment_overrides_deployment_keys(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[worker]\nbroker = "kafka://k:9092"\nweb_port = 7000\n')
    config = load_config(path, environ={"CCPULSE_WEB_PORT": "7100", "CCPULSE_APP_ID": "x"})
    assert config.deployment.broker == "kafka://k:9092"
    assert config.deployment.web_port == 7100
    assert config.deployment.app_id == "x"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"defaults": {"timezone": "Mars/Base"}}, "defaults.timezone"),
        ({"defaults": {"interval_minutes": 20}}, "defaults.interval_minutes must be 15, 30 or 60"),
        ({"defaults": {"day_start": "7:30"}}, "defaults.day_start"),
        ({"queues": {"s": {"service_level": {"abandons": "maybe"}}}},
         "queues.s.service_level.abandons"),
        ({"queues": {"s": {"service_level": {"target_ratio": 80}}}},
         "queues.s.service_level.target_ratio"),
        ({"queues": {"s": {"servicelevel": {}}}}, "unknown key queues.s.servicelevel"),
        ({"limits": {"max_queues": 0}}, "limits.max_queues"),
        ({"colour": "blue"}, "unknown top-level key 'colour'"),
    ],
    ids=["timezone", "interval", "day-start", "abandons", "target", "typo", "max-queues", "top"],
)
def test_invalid_config_names_the_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        parse_config(raw)


def test_invalid_toml_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[defaults\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path, environ={})


def test_missing_config_file_says_what_to_check(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; check --config or CCPULSE_CONFIG"):
        load_config(tmp_path / "nope.toml", environ={})


def test_config_path_that_is_a_directory_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config file .*: Is a directory; check"):
        load_config(tmp_path, environ={})


def test_config_file_that_is_not_utf8_says_so(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[defaults]\ntimezone = "\xff"\n')
    with pytest.raises(ConfigError, match=r"is not UTF-8 text .*; save it as UTF-8"):
        load_config(path, environ={})
