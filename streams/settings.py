"""Loading the configuration: the TOML file (``--config`` or ``CCPULSE_CONFIG``) plus the
environment overrides of contract §6. The parsing rules themselves live in ``streams.core.config``.

Deployment settings resolve in one order for every command: a command-line flag, else the
``CCPULSE_*`` environment variable, else the file's ``[worker]`` key, else the default.
:func:`load_config` applies the environment over the file; :func:`kafka_target` adds the flags
of the commands that talk to Kafka (``produce``, ``simulate``, ``demo``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

from streams.core.config import Config, parse_config
from streams.errors import ConfigError
from streams.kafka.security import KafkaSecurity, security_from

ENV_OVERRIDES = {
    "CCPULSE_BROKER": "broker",
    "CCPULSE_APP_ID": "app_id",
    "CCPULSE_TOPIC_PREFIX": "topic_prefix",
    "CCPULSE_WEB_HOST": "web_host",
    "CCPULSE_WEB_PORT": "web_port",
    "CCPULSE_DATA_DIR": "data_dir",
    "CCPULSE_PARTITIONS": "partitions",
    "CCPULSE_REPLICATION_FACTOR": "replication_factor",
    "CCPULSE_SECURITY_PROTOCOL": "security_protocol",
    "CCPULSE_SASL_MECHANISM": "sasl_mechanism",
    "CCPULSE_SASL_USERNAME": "sasl_username",
    "CCPULSE_SASL_PASSWORD_FILE": "sasl_password_file",
    "CCPULSE_SSL_CAFILE": "ssl_cafile",
    "CCPULSE_SSL_CERTFILE": "ssl_certfile",
    "CCPULSE_SSL_KEYFILE": "ssl_keyfile",
    "CCPULSE_WEB_CONFIG_FILE": "web_config_file",
}
#: The SASL password itself: only ever from the environment (or ``sasl_password_file``).
PASSWORD_VARIABLE = "CCPULSE_SASL_PASSWORD"


def load_config(path: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any) and apply environment overrides."""
    env = os.environ if environ is None else environ
    chosen = path if path is not None else env.get("CCPULSE_CONFIG") or None
    raw: dict = {}
    if chosen is not None:
        file = Path(chosen)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {str(file)!r} does not exist; check --config or "
                              "CCPULSE_CONFIG") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(file)!r} is not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {str(file)!r} is not UTF-8 text ({exc.reason} at "
                              f"byte {exc.start}); save it as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {str(file)!r}: {exc.strerror}; check "
                              "--config or CCPULSE_CONFIG") from None
    try:
        config = parse_config(raw)
    except ConfigError as exc:
        where = f"config file {str(chosen)!r}: " if chosen is not None else ""
        raise ConfigError(f"{where}{exc}") from None
    changes = {}
    for var, key in ENV_OVERRIDES.items():
        value = env.get(var)
        if value is None or (value == "" and key != "topic_prefix"):
            continue
        if key in ("web_port", "partitions", "replication_factor"):
            try:
                changes[key] = int(value)
            except ValueError:
                raise ConfigError(f"{var} must be a whole number, got {value!r}") from None
            if changes[key] < 1 or (key == "web_port" and changes[key] > 65535):
                limit = "a TCP port, 1 to 65535" if key == "web_port" else "at least 1"
                raise ConfigError(f"{var} must be {limit}, got {value!r}; change or unset "
                                  f"{var}")
        else:
            changes[key] = value
    if changes:
        config = replace(config, deployment=replace(config.deployment, **changes))
    return _with_password(config, env)


def _with_password(config: Config, env: Mapping[str, str]) -> Config:
    """Put the SASL password in (``CCPULSE_SASL_PASSWORD``, else ``sasl_password_file``) and
    check the Kafka security settings, so a bad one fails every command at start."""
    from streams.kafka.security import read_password_file

    d = config.deployment
    password = env.get(PASSWORD_VARIABLE) or ""
    if not password and d.sasl_password_file and d.security_protocol.upper().startswith("SASL_"):
        password = read_password_file(d.sasl_password_file)
    if password:
        config = replace(config, deployment=replace(d, sasl_password=password))
    security_from(config.deployment)
    return config


class KafkaTarget(NamedTuple):
    """Where a command sends events: the bootstrap servers, the topic-name prefix, and how
    to authenticate (``streams.kafka.security``)."""

    broker: str
    topic_prefix: str
    security: KafkaSecurity = KafkaSecurity()


def kafka_target(config: Config, broker: str | None = None,
                 topic_prefix: str | None = None) -> KafkaTarget:
    """Broker and topic prefix for a command: its flags, else ``config.deployment``.

    ``config`` comes from :func:`load_config`, which already put ``CCPULSE_BROKER`` and
    ``CCPULSE_TOPIC_PREFIX`` over the file's ``[worker]`` keys and those over the defaults, so
    the order is flag > environment > TOML ``[worker]`` > default. An empty ``--broker`` is
    no broker (it falls through, like an empty ``CCPULSE_BROKER``); an empty
    ``--topic-prefix`` is a real choice: no prefix.
    """
    deployment = config.deployment
    return KafkaTarget(broker=broker or deployment.broker,
                       topic_prefix=deployment.topic_prefix if topic_prefix is None
                       else topic_prefix,
                       security=security_from(deployment))


def add_kafka_arguments(parser: Any, *, config_help: str = "") -> None:
    """``--config``, ``--broker`` and ``--topic-prefix`` of every command that sends to Kafka
    (``produce``, ``simulate``, ``connect``), resolved by :func:`kafka_target`."""
    from streams.core.config import Deployment

    parser.add_argument("--config", metavar="F",
                        help="TOML config file whose [worker] broker and topic_prefix apply"
                             f"{config_help} (default: $CCPULSE_CONFIG)")
    parser.add_argument("--broker", metavar="B",
                        help=f"Kafka bootstrap servers (default: $CCPULSE_BROKER, else the "
                             f"config's [worker] broker, else {Deployment().broker})")
    parser.add_argument("--topic-prefix", metavar="P",
                        help="prefix of every topic name (default: $CCPULSE_TOPIC_PREFIX, "
                             "else the config's [worker] topic_prefix, else none)")
