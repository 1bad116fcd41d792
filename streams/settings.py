"""Loading the configuration: the TOML file (``--config`` or ``CCPULSE_CONFIG``) plus the
environment overrides of SPEC §6. The parsing rules themselves live in ``streams.core.config``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from streams.core.config import Config, parse_config
from streams.errors import ConfigError

ENV_OVERRIDES = {
    "CCPULSE_BROKER": "broker",
    "CCPULSE_APP_ID": "app_id",
    "CCPULSE_TOPIC_PREFIX": "topic_prefix",
    "CCPULSE_WEB_HOST": "web_host",
    "CCPULSE_WEB_PORT": "web_port",
    "CCPULSE_DATA_DIR": "data_dir",
    "CCPULSE_PARTITIONS": "partitions",
    "CCPULSE_REPLICATION_FACTOR": "replication_factor",
}


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
        else:
            changes[key] = value
    if changes:
        config = replace(config, deployment=replace(config.deployment, **changes))
    return config
