"""What-if staffing: the document ``/staffing.json`` serves, ``/staffing`` draws and
``ccpulse staffing`` prints.

Per queue and channel with live traffic, for ``N − 2 … N + 3`` agents, the service level,
ASA and abandon ratio that Erlang C and Erlang A predict at the live arrival rate and AHT
(and, for Erlang A, the live patience estimate): docs/contract.md §3.5. The live inputs are
read from the very families ``/metrics`` serves (``cc_erlang_arrival_rate_per_second``,
``cc_erlang_average_handle_time_seconds``, ``cc_erlang_a_patience_seconds``, ``cc_agents``),
so the page shows what Prometheus has; the arithmetic is ``streams.core.staffing.what_if``.
``N`` is the ``agents`` asked for, else the agents staffed now, else (nobody staffed) the
Erlang C requirement. With several workers each serves its own partitions' queues.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from importlib import resources
from typing import Any

from streams.core.config import Config
from streams.core.metrics import Family
from streams.core.staffing import STAFFED_STATES, Prediction, WhatIf, what_if

#: The page's static files: name -> content type (served at ``/staffing`` and
#: ``/staffing.js``).
ASSETS = {
    "staffing.html": "text/html; charset=utf-8",
    "staffing.js": "text/javascript; charset=utf-8",
}


def asset(name: str) -> bytes:
    """The bytes of one of the page's static files (see :data:`ASSETS`)."""
    if name not in ASSETS:
        raise KeyError(name)
    return resources.files("streams.web").joinpath(name).read_bytes()


def _by_queue_channel(fams: dict[str, Family], name: str) -> dict[tuple[str, str], float]:
    fam = fams.get(name)
    if fam is None:
        return {}
    queue, channel = fam.labels.index("queue"), fam.labels.index("channel")
    return {(labels[queue], labels[channel]): value for labels, value in fam.samples.items()}


def _finite(value: float) -> float | None:
    """JSON has no infinity: an unbounded wait is ``null``."""
    return value if math.isfinite(value) else None


def prediction_json(p: Prediction | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "service_level": p.service_level, "asa_seconds": _finite(p.asa_seconds),
        "average_wait_seconds": _finite(p.average_wait_seconds),
        "abandon_ratio": p.abandon_ratio, "wait_probability": p.wait_probability,
        "occupancy": p.occupancy,
    }


def rows_json(rows: list[WhatIf]) -> list[dict[str, Any]]:
    return [{"agents": row.agents, "erlang_c": prediction_json(row.erlang_c),
             "erlang_a": prediction_json(row.erlang_a)} for row in rows]


def _wanted(values: Iterable[str]) -> set[str]:
    return {v.strip() for value in values for v in value.split(",") if v.strip()}


def staffing_model(families: list[Family], config: Config, *, now_s: float,
                   queues: Iterable[str] = (), channels: Iterable[str] = (),
                   agents: int | None = None) -> dict[str, Any]:
    """The ``/staffing.json`` document at the wall-clock instant ``now_s``.

    ``queues``/``channels`` filter (empty: all; ``?queue=a,b``); ``agents`` is the N the table
    is centred on (default: staffed now). A queue and channel with offered contacts but no
    AHT yet has ``"rows": []`` and a ``"reason"``.
    """
    fams = {f.name: f for f in families}
    rate = _by_queue_channel(fams, "cc_erlang_arrival_rate_per_second")
    aht = _by_queue_channel(fams, "cc_erlang_average_handle_time_seconds")
    patience = _by_queue_channel(fams, "cc_erlang_a_patience_seconds")
    required_c = _by_queue_channel(fams, "cc_erlang_required_agents")
    required_a = _by_queue_channel(fams, "cc_erlang_a_required_agents")
    waiting = _by_queue_channel(fams, "cc_queue_contacts_waiting")
    staffed: dict[str, int] = {}
    agents_fam = fams.get("cc_agents")
    if agents_fam is not None:
        for (queue, state), count in agents_fam.samples.items():
            if state in STAFFED_STATES:
                staffed[queue] = staffed.get(queue, 0) + int(count)
    only_queues, only_channels = _wanted(queues), _wanted(channels)
    out = []
    for q, ch in sorted({*waiting, *rate}):
        if (only_queues and q not in only_queues) or (only_channels and ch not in only_channels):
            continue
        policy = config.policy(q, ch)
        entry: dict[str, Any] = {
            "queue": q, "channel": ch, "threshold_seconds": policy.threshold_seconds,
            "target_ratio": policy.target_ratio, "agents_staffed": staffed.get(q, 0),
            "arrival_rate_per_second": rate.get((q, ch)),
            "aht_seconds": aht.get((q, ch)), "patience_seconds": patience.get((q, ch)),
            "required_agents": {"erlang_c": required_c.get((q, ch)),
                                "erlang_a": required_a.get((q, ch))},
        }
        if entry["arrival_rate_per_second"] is None or entry["aht_seconds"] is None:
            out.append({**entry, "agents": None, "rows": [],
                        "reason": "no AHT yet: no contact of this queue and channel was "
                                  "handled in the last 30 minutes or today"})
            continue
        centre = agents if agents is not None else (
            staffed.get(q, 0) or int(required_c.get((q, ch)) or 0) or 1)
        entry["traffic_erlangs"] = entry["arrival_rate_per_second"] * entry["aht_seconds"]
        entry["agents"] = centre
        entry["rows"] = rows_json(what_if(
            centre, entry["arrival_rate_per_second"], entry["aht_seconds"],
            policy.threshold_seconds, entry["patience_seconds"]))
        out.append(entry)
    return {"generated_at": now_s,
            # the floor's zone, as the wallboard shows its clock (the page names it)
            "timezone": config.wallboard.timezone or config.defaults.timezone,
            "filters": {"queue": sorted(only_queues), "channel": sorted(only_channels)},
            "queues": out}
