"""``ccpulse staffing``: what-if staffing for one queue (docs/commands.md, contract §3.5).

Two ways to get the inputs, chosen by the flags:

* ``--rate`` *and* ``--aht`` given: computed here from those numbers alone, no worker needed
  (the threshold from ``--threshold``, else the queue's policy in the config; Erlang A only
  with ``--patience``);
* otherwise: the live inputs of a running worker — its ``/staffing.json`` at ``--url`` (default
  ``http://<web_host>:<web_port>`` of the config) — with any of ``--rate``, ``--aht``,
  ``--patience`` and ``--threshold`` given replacing the live value.

Either way the table is ``streams.core.staffing.what_if`` for ``agents − 2 … agents + 3``.
Errors are one line: what was wrong, and what to do.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import math
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

from streams.core.staffing import WHAT_IF_ABOVE, WHAT_IF_BELOW, what_if
from streams.errors import CcpulseError
from streams.staffing_page import rows_json

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/\s*(s|sec|min|h|hour))?\s*$")
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "min": 1 / 60, "h": 1 / 3600, "hour": 1 / 3600}
TIMEOUT_SECONDS = 5.0


class Rate(float):
    """An arrival rate in contacts per second, remembering whether it was given with a unit
    (``unit`` is ``None`` for a bare number, which is read per second)."""

    unit: str | None = None


def parse_rate(text: str) -> Rate:
    """``--rate``: arrivals per second, or with a unit: ``0.0556``, ``0.0556/s``, ``3.3/min``,
    ``200/h``."""
    match = _RATE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"a rate is a number of contacts per second, or per minute or hour with /min or "
            f"/h (e.g. 200/h), got {text!r}")
    rate = Rate(float(match.group(1)) * _PER_SECOND[match.group(2)])
    rate.unit = match.group(2)
    return rate


def bare_rate_note(rate: float, aht_seconds: float, agents: int) -> str | None:
    """A one-line note when ``--rate`` was a bare number (read per second) and the load it
    makes is more than the most agents in the table can carry (every row at 0 %): most
    contact-centre rates are per hour, and ``--rate 60`` meant 60 a second. None otherwise."""
    if not isinstance(rate, Rate) or rate.unit is not None:
        return None
    erlangs = rate * aht_seconds
    most = agents + WHAT_IF_ABOVE  # the table's largest agent count
    if erlangs < most:  # at most agents = load, Erlang C's wait is unbounded: every row 0 %
        return None
    return (f"note: --rate {rate:g} is read as contacts a second ({rate * 3600:,.0f}/h, "
            f"{erlangs:,.1f} erlangs for {max(agents - WHAT_IF_BELOW, 1)}–{most} agents); for "
            f"contacts an hour write --rate {rate:g}/h")


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"a positive number of seconds, got {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"a number of seconds ≥ 0, got {text!r}")
    return value


def agent_count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"a whole number of agents ≥ 0, got {text!r}")
    return int(text)


def add_staffing_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``staffing`` on the ``ccpulse`` sub-command parsers."""
    p = subparsers.add_parser(
        "staffing", help="what-if staffing: SL, ASA and abandons for N-2..N+3 agents",
        description="Predicted service level, ASA and abandon ratio under Erlang C and "
                    "Erlang A for two agents fewer to three more than --agents. With both "
                    "--rate and --aht it computes from those numbers alone; otherwise it "
                    "reads a running worker's live arrival rate, AHT and callers' patience "
                    "(its /staffing.json), and any of --rate, --aht, --patience, --threshold "
                    "given replaces the live value.")
    p.add_argument("--queue", required=True, help="the queue")
    p.add_argument("--agents", required=True, type=agent_count, metavar="N",
                   help="the staffing to centre the table on")
    p.add_argument("--channel", help="voice or chat (default: the queue's only channel with "
                                     "traffic; voice offline)")
    p.add_argument("--aht", type=positive_seconds, metavar="S",
                   help="average handle time in seconds")
    p.add_argument("--rate", type=parse_rate, metavar="R",
                   help="arrival rate: contacts per second (a bare number), or with a unit: "
                        "200/h, 3.3/min")
    p.add_argument("--patience", type=positive_seconds, metavar="S",
                   help="callers' mean patience in seconds, for Erlang A (live: the worker's "
                        "estimate)")
    p.add_argument("--threshold", type=non_negative_seconds, metavar="S",
                   help="service-level threshold in seconds (default: the queue's policy)")
    p.add_argument("--url", metavar="URL",
                   help="the worker's web address (default: http://WEB_HOST:WEB_PORT of the "
                        "config; CCPULSE_WEB_PORT); behind a login, "
                        "http://USER:PASSWORD@HOST:PORT")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.set_defaults(func=run_staffing)
    return p


def worker_url(config: Any, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    host = config.deployment.web_host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://{host}:{config.deployment.web_port}"


def without_login(url: str) -> str:
    """``url`` without its ``user:password@`` (never printed)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(
        netloc=(parts.hostname or "") + (f":{parts.port}" if parts.port else "")))


def fetch_live(base: str, queue: str, channel: str | None, agents: int) -> dict[str, Any]:
    """The worker's ``/staffing.json`` entry for ``queue`` (and ``channel``)."""
    query = urllib.parse.urlencode({"queue": queue, "agents": agents,
                                    **({"channel": channel} if channel else {})})
    parts = urllib.parse.urlsplit(base)
    headers = {}
    if parts.username is not None:  # http://user:password@host:port: the worker's basic auth
        login = f"{urllib.parse.unquote(parts.username)}:" \
                f"{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        base = without_login(base)
    url = f"{base}/staffing.json?{query}"
    offline = "or give both --rate and --aht to compute without a worker"
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            doc = json.load(response)
    except urllib.error.HTTPError as exc:
        raise CcpulseError(f"the worker at {base} answered HTTP {exc.code} for /staffing.json; "
                           f"check --url (a worker behind a password needs it in the URL), "
                           f"{offline}") from None
    except http.client.HTTPException as exc:  # IncompleteRead, BadStatusLine: repr is one line
        raise CcpulseError(f"the worker at {base} broke off its answer ({exc!r}); try again, "
                           f"{offline}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CcpulseError(f"cannot reach a worker at {base} ({reason}); start one with "
                           f"`ccpulse worker` or point --url at it, {offline}") from None
    entries = doc.get("queues", [])
    if not entries:
        where = f"queue {queue!r}" + (f" channel {channel!r}" if channel else "")
        raise CcpulseError(f"the worker at {base} has no contacts for {where}; check "
                           f"--queue/--channel (the worker's queues are on /staffing), "
                           f"{offline}")
    if len(entries) > 1:
        channels = " and ".join(e["channel"] for e in entries)
        raise CcpulseError(f"queue {queue!r} has traffic on {channels}; pick one with "
                           f"--channel")
    return entries[0]


def run_staffing(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The ``staffing`` command."""
    from streams.settings import load_config

    out = out or sys.stdout
    config = load_config(args.config)
    offline = args.rate is not None and args.aht is not None
    if offline:
        channel = args.channel or "voice"
        live: dict[str, Any] = {"queue": args.queue, "channel": channel,
                                "source": "given numbers",
                                "threshold_seconds": config.policy(args.queue, channel)
                                .threshold_seconds,
                                "target_ratio": config.policy(args.queue, channel).target_ratio,
                                "patience_seconds": None}
    else:
        base = worker_url(config, args.url)
        live = {**fetch_live(base, args.queue, args.channel, args.agents),
                "source": f"live from {without_login(base)}"}
        if (args.rate is None and live.get("arrival_rate_per_second") is None) or (
                args.aht is None and live.get("aht_seconds") is None):
            raise CcpulseError(f"queue {args.queue!r} ({live['channel']}) has no live "
                               f"estimate yet ({live.get('reason', 'no AHT')}); give --aht "
                               f"and --rate")
    rate = args.rate if args.rate is not None else live["arrival_rate_per_second"]
    aht = args.aht if args.aht is not None else live["aht_seconds"]
    patience = args.patience if args.patience is not None else live.get("patience_seconds")
    threshold = args.threshold if args.threshold is not None else live["threshold_seconds"]
    try:
        rows = what_if(args.agents, rate, aht, threshold, patience)
    except ValueError as exc:
        raise CcpulseError(f"{exc}; check --rate, --aht and --patience") from None
    doc = {"queue": live["queue"], "channel": live["channel"], "source": live["source"],
           "agents": args.agents, "arrival_rate_per_second": rate, "aht_seconds": aht,
           "traffic_erlangs": rate * aht, "patience_seconds": patience,
           "threshold_seconds": threshold, "target_ratio": live.get("target_ratio"),
           "rows": rows_json(rows)}
    if args.json:
        out.write(json.dumps(doc, indent=2) + "\n")
    else:
        out.write(render_table(doc))
    note = bare_rate_note(args.rate, aht, args.agents) if args.rate is not None else None
    if note is not None:  # after the table, where it is read; stderr keeps --json clean
        out.flush()
        print(note, file=sys.stderr)
    return 0


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    return "∞" if value is None else f"{value:.1f}s"


def render_table(doc: dict[str, Any]) -> str:
    """The table ``ccpulse staffing`` prints (one row per agent count, the asked one marked)."""
    patience = doc["patience_seconds"]
    target = doc["target_ratio"]
    lines = [
        f"{doc['queue']} · {doc['channel']} ({doc['source']}): "
        f"{doc['arrival_rate_per_second'] * 3600:.1f} contacts/h, AHT {doc['aht_seconds']:.1f}s, "
        f"{doc['traffic_erlangs']:.2f} erlangs, patience "
        + ("not known (Erlang A needs abandons, or --patience)" if patience is None
           else f"{patience:.1f}s")
        + f"; SL = answered within {doc['threshold_seconds']:g}s"
        + ("" if target is None else f", target {target * 100:g}%"),
        f"{'agents':>8}  {'C: SL':>7} {'C: ASA':>8}  {'A: SL':>7} {'A: ASA':>8} {'A: abandon':>10}",
    ]
    for row in doc["rows"]:
        c, a = row["erlang_c"], row["erlang_a"]
        mark = " ◀" if row["agents"] == doc["agents"] else ""
        lines.append(
            f"{row['agents']:>8}  {_pct(c['service_level']):>7} {_secs(c['asa_seconds']):>8}  "
            + (f"{_pct(a['service_level']):>7} {_secs(a['asa_seconds']):>8} "
               f"{_pct(a['abandon_ratio']):>10}" if a else f"{'–':>7} {'–':>8} {'–':>10}")
            + mark)
    return "\n".join(lines) + "\n"
