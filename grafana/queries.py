"""Every panel query of the committed dashboards, ready to run against a real Prometheus.

    from grafana.queries import all_panel_queries
    for uid, title, expr in all_panel_queries():
        ...  # GET /api/v1/query?query=<expr>

Reads ``grafana/dashboards/*.json`` (what Grafana is provisioned with, not the builder code)
and replaces the template variables by concrete values:

- a variable with an "All" option: its all-value (``.*`` for every ccpulse variable; the
  dashboards only match variables with ``=~``), so the query covers every queue/channel/topic;
- any other variable: its default (``$threshold`` -> ``20.0``);
- Grafana's built-ins: ``$__rate_interval`` and ``$__interval`` -> ``1m``, ``$__range`` ->
  ``1h`` (see ``BUILTINS``).

A variable the dashboard does not define is an error, never left in the query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

#: Grafana's global variables, as values that suit a Prometheus scraping every 15 s.
BUILTINS: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format} and the deprecated [[name]].
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)\]\]")


class PanelQuery(NamedTuple):
    dashboard_uid: str
    panel_title: str
    expr: str


def all_panel_queries(dashboards_dir: Path = DASHBOARDS_DIR) -> list[PanelQuery]:
    """(dashboard uid, panel title, concrete PromQL) for every target of every dashboard file.

    In file-name order, then panel order, then target order; a panel with several targets
    gives several rows with the same title.
    """
    queries: list[PanelQuery] = []
    for path in sorted(dashboards_dir.glob("*.json")):
        queries.extend(dashboard_queries(json.loads(path.read_text(encoding="utf-8"))))
    return queries


def dashboard_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """The concrete queries of one dashboard's JSON model."""
    values = {**BUILTINS, **variable_values(dashboard)}
    return [
        PanelQuery(dashboard["uid"], panel.get("title", ""), substitute(target["expr"], values))
        for panel in panels(dashboard)
        for target in panel.get("targets") or []
        if target.get("expr")
    ]


def variable_values(dashboard: Mapping[str, Any]) -> dict[str, str]:
    """Concrete value of each template variable: its all-value if it has "All", else its default."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list") or []:
        if variable.get("includeAll"):
            values[variable["name"]] = variable.get("allValue") or ".*"
            continue
        current = (variable.get("current") or {}).get("value")
        if isinstance(current, list):
            current = current[0] if current else None
        if not current:
            raise ValueError(
                f"dashboard {dashboard.get('uid')!r}: variable {variable['name']!r} has neither "
                "an All option nor a default value; give it a default"
            )
        values[variable["name"]] = str(current)
    return values


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with every ``$variable`` replaced; an unknown variable raises ``KeyError``."""

    def value(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"variable ${name} in {expr!r} is not defined by the dashboard")
        return values[name]

    return _VARIABLE.sub(value, expr)


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row, including those inside collapsed rows."""
    for panel in dashboard.get("panels") or []:
        if panel.get("type") == "row":
            yield from panel.get("panels") or []
        else:
            yield panel
