"""Queue settings, service-level policies and limits (contract §2, §3.2, §6) as plain values.

``parse_config`` turns the decoded TOML mapping into a :class:`Config`; reading the file and
the environment overrides is the shell's job (``streams.settings``). Every key is optional;
an unknown or mistyped key is a :class:`~streams.errors.ConfigError` naming the key, because a
typo in a service-level target silently using the default would mislead a whole floor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.core.business_hours import BusinessHours
from streams.errors import ConfigError

CHANNELS = ("voice", "chat")
ABANDON_MODES = ("negative", "ignored", "positive")
FLOW_OUT_MODES = ("ignored", "negative", "positive")
#: The reasons of ``*.flowed_out`` (contract §1.2), the keys of ``flow_outs`` given per reason.
FLOW_OUT_REASONS = ("timeout", "caller_choice", "overflow", "callback")
#: A waiting contact must turn stale before its state is dropped (48 h, contract §2), so that
#: its stale count is the same whether or not a prune has run.
MAX_STALE_AFTER_SECONDS = 48 * 3600.0
DEFAULT_TICKET_CATEGORIES = ("billing", "technical", "shipping", "returns", "sales", "cancellation")
PRIORITIES = ("urgent", "high", "normal", "low")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class FlowOutRules:
    """``flow_outs`` given per reason (docs/contract.md §3.2): one of :data:`FLOW_OUT_MODES`
    for each reason of :data:`FLOW_OUT_REASONS`; a reason not named in the table is
    ``ignored``, and so is a reason outside the contract's."""

    timeout: str = "ignored"
    caller_choice: str = "ignored"
    overflow: str = "ignored"
    callback: str = "ignored"

    def rule(self, reason: str) -> str:
        """How a flow-out with ``reason`` counts."""
        return getattr(self, reason) if reason in FLOW_OUT_REASONS else "ignored"

    def items(self) -> tuple[tuple[str, str], ...]:
        """``(reason, rule)`` for every reason of the contract."""
        return tuple((reason, getattr(self, reason)) for reason in FLOW_OUT_REASONS)


@dataclass(frozen=True, slots=True)
class ServiceLevelPolicy:
    """How one queue and channel counts service level (docs/contract.md §3.2)."""

    threshold_seconds: float = 20.0
    target_ratio: float = 0.8
    short_abandon_seconds: float = 5.0
    abandons: str = "negative"
    #: One of :data:`FLOW_OUT_MODES` for every flow-out alike, or a rule per reason.
    flow_outs: str | FlowOutRules = "ignored"

    def flow_out_rule(self, reason: str) -> str:
        """How a flow-out with ``reason`` counts under this policy (either form)."""
        flow_outs = self.flow_outs
        return flow_outs if isinstance(flow_outs, str) else flow_outs.rule(reason)

    @property
    def threshold_us(self) -> int:
        return round(self.threshold_seconds * 1_000_000)

    @property
    def short_abandon_us(self) -> int:
        return round(self.short_abandon_seconds * 1_000_000)


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """Window and live-state settings of one queue (docs/contract.md §2)."""

    timezone: str = "UTC"
    interval_minutes: int = 15
    day_start_minutes: int = 0
    backlog_age_seconds: float = 86400.0
    stale_after_seconds: float = 14400.0
    service_level: ServiceLevelPolicy = field(default_factory=ServiceLevelPolicy)
    channel_service_level: Mapping[str, ServiceLevelPolicy] = field(default_factory=dict)
    #: Opening spans and holidays in this queue's ``timezone``; None = always open (contract §3.6).
    business_hours: BusinessHours | None = None
    #: priority -> first-response target in seconds (business time when business hours are set)
    first_response_target_seconds: Mapping[str, float] = field(default_factory=dict)
    #: Voice trunks (lines) in front of the queue, for Erlang B's predicted blocking
    #: (contract §3.5); None = not known, no prediction.
    trunks: int | None = None
    stale_after_us: int = field(init=False, repr=False, compare=False, default=0)
    first_response_target_us: Mapping[str, int] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        # Derived once: read for every segment of every contact and every ticket event.
        object.__setattr__(self, "stale_after_us", round(self.stale_after_seconds * 1_000_000))
        object.__setattr__(self, "first_response_target_us", {
            priority: round(seconds * 1_000_000)
            for priority, seconds in self.first_response_target_seconds.items()
        })

    def policy(self, channel: str) -> ServiceLevelPolicy:
        return self.channel_service_level.get(channel, self.service_level)

    def business_us(self, start_us: int, end_us: int) -> int:
        """Business time in ``[start_us, end_us)``: calendar time when always open."""
        if self.business_hours is None:
            return max(0, end_us - start_us)
        return self.business_hours.business_us(start_us, end_us)

    def first_response_deadline_us(self, created_us: int, priority: str) -> int | None:
        """When a ticket created at ``created_us`` is overdue without a first response.

        None when ``priority`` has no target. The target counts business time when the queue
        has business hours: the deadline is the instant by which that much opening time has
        passed since creation (a ticket created while closed starts counting at opening).
        """
        target_us = self.first_response_target_us.get(priority)
        if target_us is None:
            return None
        if self.business_hours is None:
            return created_us + target_us
        return self.business_hours.deadline_us(created_us, target_us)


@dataclass(frozen=True, slots=True)
class Limits:
    max_queues: int = 500
    ticket_categories: tuple[str, ...] = DEFAULT_TICKET_CATEGORIES
    #: Per-agent series (``cc_per_agent_*``, ``cc_window_per_agent_*``): off by default
    #: (docs/contract.md §4, docs/security.md "Personal data").
    per_agent: bool = False
    #: With ``per_agent``: how many agent ids become ``agent`` label values per day; the
    #: others are summed under ``agent="other"`` (``streams.core.agent_kpis``).
    max_agents: int = 1000


@dataclass(frozen=True, slots=True)
class CustomerSettings:
    """Customer-lifecycle settings (docs/contract.md §3.4): the zone of the calendar months."""

    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the worker runs; environment variables override these (docs/contract.md §6)."""

    broker: str = "kafka://localhost:9092"
    app_id: str = "ccpulse"
    topic_prefix: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = "./.ccpulse"
    partitions: int = 4
    replication_factor: int = 1
    #: How clients reach Kafka (``streams.kafka.security``): PLAINTEXT, SSL, SASL_SSL or
    #: SASL_PLAINTEXT, the SASL mechanism and user, and the TLS files.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password_file: str = ""
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""
    #: TLS and basic auth of the web server (/metrics, /wallboard): a YAML file in the format
    #: of Prometheus' exporters (``streams.webconfig``); empty = plain HTTP, no login.
    web_config_file: str = ""
    #: Never a TOML key: read from ``CCPULSE_SASL_PASSWORD`` or ``sasl_password_file`` by
    #: ``streams.settings.load_config``, and kept out of ``repr``.
    sasl_password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class WallboardSettings:
    """The worker's ``/wallboard`` page: its clock, when it stops claiming "live", colours.

    Colours compare each number with the queue's own service-level policy where one applies:
    service level is green at or above the target, amber within ``sl_amber_margin`` below it,
    red further below; oldest wait and ASA are green below ``wait_amber_fraction`` of the
    queue's threshold, amber up to the threshold, red beyond. Counts and rates are amber from
    their ``*_amber`` value and red from their ``*_red`` value.
    """

    #: IANA zone of the clock; None = the zone of ``[defaults]``.
    timezone: str | None = None
    refresh_seconds: float = 5.0
    #: The newest event is older than this: the page says the data is stale.
    stale_after_seconds: float = 120.0
    #: The page's own data is older than this (the worker does not answer): stale too.
    data_stale_after_seconds: float = 15.0
    sl_amber_margin: float = 0.05
    wait_amber_fraction: float = 0.5
    waiting_amber: float = 5.0
    waiting_red: float = 10.0
    abandon_rate_amber: float = 0.05
    abandon_rate_red: float = 0.10
    open_tickets_amber: float = 50.0
    open_tickets_red: float = 100.0
    overdue_amber: float = 1.0
    overdue_red: float = 5.0


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """When the worker's ``/readyz`` (and ``/healthz``) stop answering 200, and ``/livez``."""

    #: Not ready once the broker has not answered a check for this long.
    broker_timeout_seconds: float = 15.0
    #: Not ready once messages wait (lag > 0) and none was processed for this long.
    stall_seconds: float = 60.0
    #: How often the worker asks the broker for its partitions' end offsets.
    check_interval_seconds: float = 5.0
    #: Not alive once the event loop has not run its 1-second heartbeat for this long.
    loop_stall_seconds: float = 30.0


@dataclass(frozen=True, eq=False)
class Config:
    """The whole engine configuration; compared by identity (it is built once, at start)."""

    defaults: QueueSettings = field(default_factory=QueueSettings)
    queues: Mapping[str, QueueSettings] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    deployment: Deployment = field(default_factory=Deployment)
    customers: CustomerSettings = field(default_factory=CustomerSettings)
    wallboard: WallboardSettings = field(default_factory=WallboardSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    #: ``[connect.<system>]`` tables as written; each connector checks its own
    #: (``streams.sources``), the engine never reads them.
    connect: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def queue(self, name: str) -> QueueSettings:
        """Settings of ``name``: its own section, else the defaults."""
        return self.queues.get(name, self.defaults)

    def policy(self, queue: str, channel: str) -> ServiceLevelPolicy:
        return self.queue(queue).policy(channel)

    def histogram_bounds_seconds(self) -> tuple[float, ...]:
        """Wait-histogram buckets: a fixed ladder plus every SL and short-abandon threshold."""
        return _wait_bounds(self)


_LADDER = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0,
           600.0, 1200.0, 1800.0, 3600.0)


def _all_policies(config: Config) -> list[ServiceLevelPolicy]:
    settings = [config.defaults, *config.queues.values()]
    out: list[ServiceLevelPolicy] = []
    for s in settings:
        out.append(s.service_level)
        out.extend(s.channel_service_level.values())
    return out


@cache
def _wait_bounds(config: Config) -> tuple[float, ...]:
    bounds = set(_LADDER)
    for p in _all_policies(config):
        bounds.add(float(p.threshold_seconds))
        if p.short_abandon_seconds > 0:
            bounds.add(float(p.short_abandon_seconds))
    return tuple(sorted(bounds))


# --------------------------------------------------------------------------- parsing

_POLICY_KEYS = {
    "threshold_seconds", "target_ratio", "short_abandon_seconds", "abandons", "flow_outs",
}
_QUEUE_KEYS = {
    "timezone", "interval_minutes", "day_start", "backlog_age_seconds", "stale_after_seconds",
    "service_level", "business_hours", "first_response_target_seconds", "trunks",
}
_DEPLOYMENT_KEYS = {
    "broker", "app_id", "topic_prefix", "web_host", "web_port", "data_dir", "partitions",
    "replication_factor", "security_protocol", "sasl_mechanism", "sasl_username",
    "sasl_password_file", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "web_config_file",
}


def _number(where: str, value: Any, *, minimum: float = 0.0, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{where} must be at least {minimum:g}, got {value!r}")
    return value


def _parse_policy(where: str, raw: Any, base: ServiceLevelPolicy) -> ServiceLevelPolicy:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table, got {raw!r}")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key in CHANNELS and isinstance(value, Mapping):
            continue  # per-channel override, parsed by the caller
        if key not in _POLICY_KEYS:
            raise ConfigError(
                f"unknown key {where}.{key}; expected one of {sorted(_POLICY_KEYS | set(CHANNELS))}"
            )
        name = f"{where}.{key}"
        if key == "abandons":
            if value not in ABANDON_MODES:
                raise ConfigError(f"{name} must be one of {list(ABANDON_MODES)}, got {value!r}")
        elif key == "flow_outs":
            value = _parse_flow_outs(name, value)
        elif key == "target_ratio":
            _number(name, value)
            if value > 1:
                raise ConfigError(f"{name} is a ratio between 0 and 1, got {value!r}")
            value = float(value)
        else:
            value = float(_number(name, value))
        changes[key] = value
    return replace(base, **changes)


def _parse_flow_outs(name: str, value: Any) -> str | FlowOutRules:
    """One rule for every flow-out (``"positive"``), or a table of reason = rule."""
    if isinstance(value, Mapping):
        for reason, rule in value.items():
            if reason not in FLOW_OUT_REASONS:
                raise ConfigError(f"unknown key {name}.{reason}; expected one of "
                                  f"{list(FLOW_OUT_REASONS)} (a reason not named is ignored)")
            if rule not in FLOW_OUT_MODES:
                raise ConfigError(f"{name}.{reason} must be one of {list(FLOW_OUT_MODES)}, "
                                  f"got {rule!r}")
        return FlowOutRules(**value)
    if value not in FLOW_OUT_MODES:
        raise ConfigError(f"{name} must be one of {list(FLOW_OUT_MODES)}, or a table of "
                          f"reason = rule with reasons {list(FLOW_OUT_REASONS)}, got {value!r}")
    return value


def _parse_day_start(where: str, value: Any) -> int:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ConfigError(f"{where} must be 'HH:MM' local time, got {value!r}")
    try:
        hours, minutes = int(value[:2]), int(value[3:])
    except ValueError:
        raise ConfigError(f"{where} must be 'HH:MM' local time, got {value!r}") from None
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ConfigError(f"{where} must be 'HH:MM' between 00:00 and 23:59, got {value!r}")
    return hours * 60 + minutes


def _parse_clock(value: str, *, end: bool) -> int | None:
    """Minutes of ``'HH:MM'`` (``'24:00'`` only as an end); None when malformed."""
    if len(value) != 5 or value[2] != ":" or not (value[:2] + value[3:]).isdigit():
        return None
    hours, minutes = int(value[:2]), int(value[3:])
    if end and (hours, minutes) == (24, 0):
        return 24 * 60
    if hours >= 24 or minutes >= 60:
        return None
    return hours * 60 + minutes


def _parse_spans(where: str, raw: Any) -> tuple[tuple[int, int], ...]:
    example = '["08:00-12:00", "13:00-17:30"]'
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be a list of 'HH:MM-HH:MM' spans like {example}, "
                          f"got {raw!r}")
    spans: list[tuple[int, int, int]] = []
    for index, text in enumerate(raw):
        name = f"{where}[{index}]"
        start = end = None
        if isinstance(text, str) and text.count("-") == 1:
            first, last = text.strip().split("-")
            start = _parse_clock(first.strip(), end=False)
            end = _parse_clock(last.strip(), end=True)
        if start is None or end is None:
            raise ConfigError(f"{name}: {text!r} is not a span; write 'HH:MM-HH:MM' local time, "
                              f"like '08:00-12:00' ('24:00' for the end of the day)")
        if start >= end:
            raise ConfigError(f"{name}: span {text!r} does not end after it starts; a span "
                              f"stays within one day, so split it at '24:00'")
        spans.append((start, end, index))
    spans.sort()
    for (_, prev_end, prev_index), (start, _, index) in pairwise(spans):
        if start < prev_end:
            first, second = sorted((prev_index, index))
            raise ConfigError(f"{where}[{second}]: span {raw[second]!r} overlaps "
                              f"{where}[{first}] {raw[first]!r}; merge them into one span")
    return tuple((start, end) for start, end, _ in spans)


def _parse_holiday(name: str, value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{name}: {value!r} is not a date; write 'YYYY-MM-DD' (a local date of "
                      f"the queue's timezone), like '2026-12-25'")


_Hours = tuple[Mapping[int, tuple[tuple[int, int], ...]], frozenset[date]]


def _parse_business_hours(where: str, raw: Any) -> _Hours:
    """Weekly spans and holidays; the zone is applied once the whole queue table is read."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table like {{ mon = [\"08:00-17:00\"] }}, "
                          f"got {raw!r}")
    weekly: dict[int, tuple[tuple[int, int], ...]] = {}
    holidays: set[date] = set()
    for key, value in raw.items():
        name = f"{where}.{key}"
        if key in WEEKDAYS:
            weekly[WEEKDAYS.index(key)] = _parse_spans(name, value)
        elif key == "holidays":
            if not isinstance(value, list):
                raise ConfigError(f"{name} must be a list of 'YYYY-MM-DD' dates, got {value!r}")
            holidays.update(_parse_holiday(f"{name}[{i}]", v) for i, v in enumerate(value))
        else:
            raise ConfigError(
                f"unknown key {name}; expected one of {[*WEEKDAYS, 'holidays']}"
            )
    if not any(weekly.values()):
        raise ConfigError(f"{where} has no opening span; name at least one day "
                          f"(mon = [\"09:00-17:00\"]) or leave business_hours out for always open")
    return weekly, frozenset(holidays)


def _parse_targets(where: str, raw: Any, base: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table like {{ urgent = 3600, normal = 86400 }}, "
                          f"got {raw!r}")
    targets = dict(base)
    for key, value in raw.items():
        if key not in PRIORITIES:
            raise ConfigError(f"unknown key {where}.{key}; expected one of {list(PRIORITIES)}")
        seconds = _number(f"{where}.{key}", value, minimum=float("-inf"))
        if seconds <= 0:
            raise ConfigError(f"{where}.{key} must be a positive number of seconds, "
                              f"got {value!r}")
        targets[key] = float(seconds)
    return targets


def _parse_queue(where: str, raw: Any, base: QueueSettings) -> QueueSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a table, got {raw!r}")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{where}.{key}"
        if key not in _QUEUE_KEYS:
            raise ConfigError(f"unknown key {name}; expected one of {sorted(_QUEUE_KEYS)}")
        if key == "timezone":
            changes["timezone"] = _parse_timezone(name, value)
        elif key == "interval_minutes":
            if value not in (15, 30, 60) or isinstance(value, bool):
                raise ConfigError(f"{name} must be 15, 30 or 60, got {value!r}")
            changes["interval_minutes"] = int(value)
        elif key == "day_start":
            changes["day_start_minutes"] = _parse_day_start(name, value)
        elif key == "stale_after_seconds":
            seconds = float(_number(name, value))
            if seconds > MAX_STALE_AFTER_SECONDS:
                raise ConfigError(
                    f"{name} must be at most {MAX_STALE_AFTER_SECONDS:g} (the 48 h a contact is "
                    f"kept after its last event), got {value!r}")
            changes[key] = seconds
        elif key == "backlog_age_seconds":
            changes[key] = float(_number(name, value))
        elif key == "trunks":
            changes[key] = int(_number(name, value, minimum=1, integer=True))
        elif key == "first_response_target_seconds":
            changes[key] = _parse_targets(name, value, base.first_response_target_seconds)
    hours = None
    if "business_hours" in raw:
        hours = _parse_business_hours(f"{where}.business_hours", raw["business_hours"])
    settings = replace(base, **changes)
    # Built after every key is read: the zone may come later in the table, or be this queue's
    # own while the spans are inherited from [defaults].
    inherited = base.business_hours
    if hours is not None:
        settings = replace(settings, business_hours=BusinessHours(settings.timezone, *hours))
    elif inherited is not None and inherited.timezone != settings.timezone:
        settings = replace(settings, business_hours=BusinessHours(
            settings.timezone, dict(enumerate(inherited.weekly)), inherited.holidays))
    if "service_level" in raw:
        sl_raw = raw["service_level"]
        policy = _parse_policy(f"{where}.service_level", sl_raw, base.service_level)
        per_channel = {
            ch: _parse_policy(f"{where}.service_level.{ch}", sl_raw[ch], policy)
            for ch in CHANNELS
            if isinstance(sl_raw.get(ch), Mapping)
        }
        # A queue-level change applies to the inherited per-channel overrides too, unless
        # the queue overrides that channel itself.
        inherited = {
            ch: _reapply(p, base.service_level, policy)
            for ch, p in base.channel_service_level.items()
            if ch not in per_channel
        }
        settings = replace(
            settings, service_level=policy, channel_service_level={**inherited, **per_channel}
        )
    return settings


def _reapply(
    channel_policy: ServiceLevelPolicy, old_base: ServiceLevelPolicy, new_base: ServiceLevelPolicy
) -> ServiceLevelPolicy:
    """Keep a channel override's own values, take the new base for the rest."""
    changes = {
        k: getattr(channel_policy, k)
        for k in _POLICY_KEYS
        if getattr(channel_policy, k) != getattr(old_base, k)
    }
    return replace(new_base, **changes)


def _parse_limits(raw: Any) -> Limits:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"limits must be a table, got {raw!r}")
    limits = Limits()
    for key, value in raw.items():
        if key == "max_queues":
            limits = replace(limits, max_queues=int(_number("limits.max_queues", value,
                                                            minimum=1, integer=True)))
        elif key == "ticket_categories":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"limits.ticket_categories must be a list of strings, got {value!r}"
                )
            limits = replace(limits, ticket_categories=tuple(value))
        elif key == "per_agent":
            if not isinstance(value, bool):
                raise ConfigError(f"limits.per_agent must be true or false, got {value!r}")
            limits = replace(limits, per_agent=value)
        elif key == "max_agents":
            limits = replace(limits, max_agents=int(_number("limits.max_agents", value,
                                                            minimum=1, integer=True)))
        else:
            raise ConfigError(f"unknown key limits.{key}; expected max_queues, "
                              "ticket_categories, per_agent or max_agents")
    return limits


def _parse_deployment(raw: Any) -> Deployment:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"worker must be a table, got {raw!r}")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "sasl_password":
            raise ConfigError("worker.sasl_password is not read from the config file: put the "
                              "password in a file named by worker.sasl_password_file, or in "
                              "CCPULSE_SASL_PASSWORD")
        if key not in _DEPLOYMENT_KEYS:
            raise ConfigError(
                f"unknown key worker.{key}; expected one of {sorted(_DEPLOYMENT_KEYS)}"
            )
        if key in ("web_port", "partitions", "replication_factor"):
            changes[key] = int(_number(f"worker.{key}", value, minimum=1, integer=True))
            if key == "web_port" and changes[key] > 65535:
                raise ConfigError(f"worker.web_port must be a TCP port, 1 to 65535, got "
                                  f"{value!r}; change web_port in [worker] (or "
                                  "CCPULSE_WEB_PORT)")
        elif not isinstance(value, str):
            raise ConfigError(f"worker.{key} must be a string, got {value!r}")
        else:
            changes[key] = value
    return replace(Deployment(), **changes)


def _parse_timezone(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be an IANA time zone name, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{name}: unknown time zone {value!r}; use an IANA name like 'Europe/Lisbon'"
        ) from None
    return value


def _parse_customers(raw: Any) -> CustomerSettings:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"customers must be a table, got {raw!r}")
    for key in raw:
        if key != "timezone":
            raise ConfigError(f"unknown key customers.{key}; expected timezone")
    if "timezone" in raw:
        return CustomerSettings(timezone=_parse_timezone("customers.timezone", raw["timezone"]))
    return CustomerSettings()


_PAIRS = (("waiting_amber", "waiting_red"), ("abandon_rate_amber", "abandon_rate_red"),
          ("open_tickets_amber", "open_tickets_red"), ("overdue_amber", "overdue_red"))
_RATIOS = {"sl_amber_margin", "wait_amber_fraction", "abandon_rate_amber", "abandon_rate_red"}
_POSITIVE = {"refresh_seconds", "stale_after_seconds", "data_stale_after_seconds",
             "broker_timeout_seconds", "stall_seconds", "check_interval_seconds",
             "loop_stall_seconds"}


def _parse_numbers(table: str, raw: Any, base: Any) -> Any:
    """A table of numbers onto the dataclass ``base`` (``timezone`` is the one string)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{table} must be a table, got {raw!r}")
    keys = [f.name for f in fields(base)]
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{table}.{key}"
        if key not in keys:
            raise ConfigError(f"unknown key {name}; expected one of {sorted(keys)}")
        if key == "timezone":
            changes[key] = _parse_timezone(name, value)
            continue
        number = float(_number(name, value))
        if key in _POSITIVE and number <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
        if key in _RATIOS and number > 1:
            raise ConfigError(f"{name} is a ratio between 0 and 1, got {value!r}")
        changes[key] = number
    settings = replace(base, **changes)
    for amber, red in _PAIRS:
        if hasattr(settings, amber) and getattr(settings, red) < getattr(settings, amber):
            raise ConfigError(f"{table}.{red} must be at least {table}.{amber} "
                              f"({getattr(settings, amber):g}), got {getattr(settings, red):g}")
    return settings


def parse_config(raw: Mapping[str, Any]) -> Config:
    """Build a :class:`Config` from a decoded TOML document (all keys optional)."""
    known = {"defaults", "queues", "limits", "worker", "customers", "wallboard", "health",
             "connect"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"unknown top-level key {key!r}; expected one of {sorted(known)}")
    defaults = _parse_queue("defaults", raw.get("defaults", {}), QueueSettings())
    queues_raw = raw.get("queues", {})
    if not isinstance(queues_raw, Mapping):
        raise ConfigError(f"queues must be a table of queue tables, got {queues_raw!r}")
    queues = {name: _parse_queue(f"queues.{name}", q, defaults) for name, q in queues_raw.items()}
    limits = _parse_limits(raw.get("limits", {}))
    deployment = _parse_deployment(raw.get("worker", {}))
    customers = _parse_customers(raw.get("customers", {}))
    wallboard = _parse_numbers("wallboard", raw.get("wallboard", {}), WallboardSettings())
    health = _parse_numbers("health", raw.get("health", {}), HealthSettings())
    connect = raw.get("connect", {})
    if not isinstance(connect, Mapping) or not all(
            isinstance(table, Mapping) for table in connect.values()):
        raise ConfigError("connect must be a table of per-system tables ([connect.asterisk], "
                          f"[connect.zendesk], ...), got {connect!r}")
    return Config(defaults=defaults, queues=queues, limits=limits, deployment=deployment,
                  customers=customers, wallboard=wallboard, health=health,
                  connect={name: dict(table) for name, table in connect.items()})
