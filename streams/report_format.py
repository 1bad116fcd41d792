"""How ``ccpulse report`` writes a value for people (HTML, PDF): units, "no data", changes."""

from __future__ import annotations

from streams.core.report import kpi_of


def seconds_text(value: float) -> str:
    if abs(value) < 120:
        return f"{value:.1f} s"
    if abs(value) < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def value_text(key: str, value: float | None) -> str:
    if value is None:
        return "no data"
    unit = kpi_of(key).unit
    if unit == "ratio":
        return f"{100 * value:.1f} %"
    if unit == "seconds":
        return seconds_text(value)
    if unit == "count":
        return f"{value:,.0f}"
    if unit == "score":
        return f"{value:+.1f}"
    if unit == "money":
        return f"{value:,.2f} {key.partition(':')[2]}".strip()
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"


def change_text(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    unit = kpi_of(key).unit
    if unit == "ratio":
        return f"{100 * value:+.1f} pp"
    if unit == "seconds":
        sign = "+" if value >= 0 else "−"
        return sign + seconds_text(abs(value))
    if unit == "count":
        return f"{value:+,.0f}"
    if unit == "score":
        return f"{value:+.1f}"
    if unit == "money":
        return f"{value:+,.2f}"
    return f"{value:+,.2f}" if abs(value) >= 1 else f"{value:+.3f}"
