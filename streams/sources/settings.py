"""Checking a connector's ``[connect.<system>]`` table: the three shapes every connector has.

Each raises :class:`~streams.errors.ConfigError` with one line naming the full key
(``connect.zendesk.groups``), what it must be and what it got.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streams.errors import ConfigError


def check_keys(section: str, table: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Every key of ``table`` is one of ``allowed`` (a misspelt setting is not ignored)."""
    known = tuple(allowed)
    for key in table:
        if key not in known:
            raise ConfigError(f"{section}.{key} is not a setting; the settings are "
                              f"{', '.join(known)}")


def whole_seconds(key: str, value: Any, low: int, high: int, meaning: str = "") -> int:
    """``value`` as whole seconds from ``low`` to ``high`` (``meaning`` is said after it)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key} must be whole seconds from {low} to {high}{meaning}, got "
                          f"{value!r}")
    return value


def names(key: str, value: Any, shape: str) -> dict[str, str]:
    """A table of native id = name (``shape`` says it, e.g. ``group id = "queue name"``),
    names stripped of surrounding blanks."""
    if not isinstance(value, Mapping) or not all(
            isinstance(v, str) and v.strip() for v in value.values()):
        raise ConfigError(f"{key} must be a table of {shape}, got {value!r}")
    return {str(k): v.strip() for k, v in value.items()}
