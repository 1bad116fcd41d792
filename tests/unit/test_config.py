"""Configuration parsing (contract §6): defaults, overrides, and errors that name the key."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest
from kpi_helpers import us

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


# --------------------------------------------------------------------------- docs/contract.md §3.6

BUSINESS_HOURS_EXAMPLE = """
[defaults]
first_response_target_seconds = { urgent = 3600, high = 14400, normal = 86400, low = 172800 }

[queues.support]
first_response_target_seconds = { urgent = 1800 }

[queues.support.business_hours]
mon = ["08:00-12:00", "13:00-17:30"]
fri = ["08:00-24:00"]
holidays = ["2026-12-25", 2027-01-01]
"""


class TestBusinessHoursConfig:
    def test_spec_example_parses_with_quoted_and_toml_dates(self, tmp_path):
        path = tmp_path / "ccpulse.toml"
        path.write_text(BUSINESS_HOURS_EXAMPLE)
        support = load_config(path, environ={}).queue("support")
        hours = support.business_hours
        assert hours is not None
        assert hours.timezone == "UTC"
        assert hours.weekly[0] == ((480, 720), (780, 1050))
        assert hours.weekly[4] == ((480, 1440),)
        assert hours.weekly[1] == ()  # a day not named is closed
        assert hours.holidays == {date(2026, 12, 25), date(2027, 1, 1)}

    def test_no_business_hours_means_always_open(self):
        assert parse_config({}).defaults.business_hours is None
        assert parse_config({}).defaults.first_response_target_us == {}

    def test_targets_inherit_per_priority_from_defaults(self):
        config = parse_config(tomllib.loads(BUSINESS_HOURS_EXAMPLE))
        assert config.queue("support").first_response_target_us == {
            "urgent": 1_800_000_000, "high": 14_400_000_000, "normal": 86_400_000_000,
            "low": 172_800_000_000,
        }
        assert config.queue("elsewhere").first_response_target_us["urgent"] == 3_600_000_000

    def test_timezone_after_business_hours_in_the_same_table_is_used(self):
        config = parse_config({"queues": {"s": {
            "business_hours": {"mon": ["08:00-17:00"]}, "timezone": "Europe/Lisbon",
        }}})
        hours = config.queue("s").business_hours
        assert hours is not None and hours.timezone == "Europe/Lisbon"

    def test_queue_inheriting_defaults_hours_uses_its_own_timezone(self):
        config = parse_config({
            "defaults": {"business_hours": {"mon": ["09:00-17:00"]}},
            "queues": {"ny": {"timezone": "America/New_York"}, "plain": {}},
        })
        ny, plain = config.queue("ny").business_hours, config.queue("plain").business_hours
        assert ny is not None and plain is not None
        assert ny.timezone == "America/New_York" and plain.timezone == "UTC"
        assert ny.weekly == plain.weekly
        # Monday 23 Nov 2026, 09:00-17:00 New York is 14:00-22:00 UTC.
        monday_utc_morning = (us("2026-11-23T09:00:00Z"), us("2026-11-23T14:00:00Z"))
        assert config.queue("ny").business_us(*monday_utc_morning) == 0
        assert config.queue("plain").business_us(*monday_utc_morning) == 5 * 3_600_000_000

    def test_a_queues_own_business_hours_replace_the_defaults_whole(self):
        config = parse_config({
            "defaults": {"business_hours": {"mon": ["09:00-17:00"], "holidays": ["2026-12-25"]}},
            "queues": {"s": {"business_hours": {"tue": ["10:00-12:00"]}}},
        })
        hours = config.queue("s").business_hours
        assert hours is not None
        assert hours.weekly[0] == () and hours.weekly[1] == ((600, 720),)
        assert hours.holidays == frozenset()

    def test_first_response_deadline_in_business_time(self):
        config = parse_config({"queues": {"s": {
            "business_hours": {"mon": ["08:00-12:00", "13:00-17:30"]},
            "first_response_target_seconds": {"normal": 1800},
        }}})
        created = us("2026-11-21T10:00:00Z")  # Saturday
        deadline = config.queue("s").first_response_deadline_us(created, "normal")
        assert deadline == us("2026-11-23T08:30:00Z")
        assert config.queue("s").first_response_deadline_us(created, "urgent") is None

    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({"business_hours": "9-5"}, "queues.s.business_hours must be a table"),
            ({"business_hours": {"mon": "08:00-12:00"}},
             "queues.s.business_hours.mon must be a list of 'HH:MM-HH:MM' spans"),
            ({"business_hours": {"mon": ["08:00-12:00", "8-17"]}},
             "queues.s.business_hours.mon[1]: '8-17' is not a span; write 'HH:MM-HH:MM'"),
            ({"business_hours": {"tue": ["24:00-24:00"]}},
             "queues.s.business_hours.tue[0]: '24:00-24:00' is not a span"),
            ({"business_hours": {"wed": ["17:00-09:00"]}},
             "queues.s.business_hours.wed[0]: span '17:00-09:00' does not end after it "
             "starts; a span stays within one day, so split it at '24:00'"),
            ({"business_hours": {"mon": ["13:00-17:00", "08:00-13:30"]}},
             "queues.s.business_hours.mon[1]: span '08:00-13:30' overlaps "
             "queues.s.business_hours.mon[0] '13:00-17:00'; merge them into one span"),
            ({"business_hours": {"monday": ["08:00-12:00"]}},
             "unknown key queues.s.business_hours.monday; expected one of ['mon'"),
            ({"business_hours": {"mon": ["08:00-12:00"], "holidays": ["2026-13-01"]}},
             "queues.s.business_hours.holidays[0]: '2026-13-01' is not a date; "
             "write 'YYYY-MM-DD'"),
            ({"business_hours": {"mon": ["08:00-12:00"], "holidays": "2026-12-25"}},
             "queues.s.business_hours.holidays must be a list of 'YYYY-MM-DD' dates"),
            ({"business_hours": {"mon": [], "holidays": ["2026-12-25"]}},
             "queues.s.business_hours has no opening span; name at least one day"),
            ({"first_response_target_seconds": {"critical": 60}},
             "unknown key queues.s.first_response_target_seconds.critical; expected one of "
             "['urgent', 'high', 'normal', 'low']"),
            ({"first_response_target_seconds": {"low": 0}},
             "queues.s.first_response_target_seconds.low must be a positive number of seconds"),
            ({"first_response_target_seconds": {"low": "1d"}},
             "queues.s.first_response_target_seconds.low must be a number"),
            ({"first_response_target_seconds": 3600},
             "queues.s.first_response_target_seconds must be a table"),
        ],
        ids=["not-a-table", "day-not-a-list", "bad-span", "24-00-start", "reversed", "overlap",
             "unknown-day", "bad-holiday", "holidays-not-a-list", "never-open",
             "unknown-priority", "zero-target", "target-not-a-number", "targets-not-a-table"],
    )
    def test_invalid_business_settings_name_the_key(self, raw, message):
        with pytest.raises(ConfigError) as caught:
            parse_config({"queues": {"s": raw}})
        assert str(caught.value).startswith(message)
        assert "\n" not in str(caught.value)

    def test_a_toml_datetime_is_not_a_holiday(self):
        raw = tomllib.loads('[defaults.business_hours]\nmon = ["08:00-12:00"]\n'
                            'holidays = [2026-12-25T00:00:00Z]\n')
        with pytest.raises(ConfigError, match=r"defaults\.business_hours\.holidays\[0\]: "):
            parse_config(raw)


def test_business_hours_example_in_the_docs_parses():
    docs = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    section = docs.read_text().split("## Business hours and first-response targets")[1]
    example = section.split("```toml\n")[1].split("```")[0]
    support = parse_config(tomllib.loads(example)).queue("support")
    assert support.business_hours is not None
    assert support.business_hours.timezone == "Europe/Lisbon"
    # Saturday 21 Nov 2026 10:00 Lisbon (UTC+0): 30 min of business time is Monday 08:30.
    assert support.business_hours.deadline_us(us("2026-11-21T10:00:00Z"), 1_800_000_000) == us(
        "2026-11-23T08:30:00Z")


def test_the_demo_configuration_parses_and_sets_first_response_targets():
    from streams.demo import DEMO_CONFIG
    from streams.settings import load_config

    config = load_config(str(DEMO_CONFIG), environ={})
    assert config.defaults.first_response_target_us["urgent"] == 3600 * 1_000_000
    assert set(config.defaults.first_response_target_us) == {"urgent", "high", "normal", "low"}


def test_a_web_port_beyond_65535_is_a_one_line_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"worker\.web_port must be a TCP port, 1 to 65535"):
        parse_config({"worker": {"web_port": 70000}})
