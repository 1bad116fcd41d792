"""``ccpulse connect asterisk``: Asterisk's ``queue_log`` file as contract events.

The shell around :class:`~streams.sources.asterisk_ql_map.AsteriskMapper`: options, the
``[connect.asterisk]`` table, and a :func:`~streams.sources.files.read_lines` reader that
follows the file like ``tail -F`` (through logrotate's rename or copytruncate) with
``--follow``. Top-level imports stay light: this module is imported on every ``ccpulse``
start to build the parser.

Configuration (all optional; docs/sources/asterisk.md)::

    [connect.asterisk]
    timezone = "Europe/Berlin"     # of YYYY-MM-DD HH:MM:SS times (realtime/database exports)
    wrapup_seconds = 0             # after-call work of every queue (queues.conf wrapuptime)
    agents = { "Alice Smith" = "1001" }   # AGENT field -> agent id

    [connect.asterisk.queues.sales]
    wrapup_seconds = 15
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Mapping
from typing import Any, Final

from streams.sources.base import Connector

SYSTEM: Final = "asterisk"
#: Longest wrap-up: ``call.wrapup_ended`` is stamped that far after the line that ends the
#: call, and the engine rejects events more than 5 minutes ahead of its clock (contract §1.1).
MAX_WRAPUP_SECONDS: Final = 240
CONFIG_KEYS: Final = ("timezone", "wrapup_seconds", "agents", "queues")

HELP = "Asterisk queue_log (app_queue): calls, queues and agent states"
DESCRIPTION = (
    "Read Asterisk's queue_log (the file app_queue writes, by default "
    "/var/log/asterisk/queue_log, or a pipe-separated export of the realtime queue_log table) "
    "and send ccpulse events: ENTERQUEUE, CONNECT, ABANDON, EXITWITH*, COMPLETE* and "
    "transfers as call events; ADDMEMBER, REMOVEMEMBER, PAUSE, UNPAUSE and agent logins as "
    "agent states. With --follow it keeps reading as Asterisk writes, through log rotation, "
    "and resumes where it stopped after a restart. Settings: [connect.asterisk] in the config "
    "(timezone, wrapup_seconds, agents, queues.NAME.wrapup_seconds). Mapping: "
    "docs/sources/asterisk.md.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue-log", metavar="PATH", required=True,
                        help="the queue_log file (e.g. /var/log/asterisk/queue_log)")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading as the file grows, like tail -F, through log "
                             "rotation (stop with Ctrl-C or SIGTERM)")
    parser.add_argument("--timezone", metavar="TZ",
                        help="IANA timezone of YYYY-MM-DD HH:MM:SS times in the log "
                             "(default: [connect.asterisk] timezone, else UTC); epoch times "
                             "need none")


def settings(config: Any, timezone_flag: str | None = None) -> dict[str, Any]:
    """``[connect.asterisk]`` checked: ``zone`` (tzinfo), ``default_wrapup_us``,
    ``wrapup_us`` (per queue), ``aliases``. Raises ConfigError naming the key."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from streams.errors import ConfigError
    from streams.sources.settings import check_keys, names

    table = dict(getattr(config, "connect", {}).get(SYSTEM, {}))
    check_keys(f"connect.{SYSTEM}", table, CONFIG_KEYS)
    name = timezone_flag or table.get("timezone", "UTC")
    where = "--timezone" if timezone_flag else f"connect.{SYSTEM}.timezone"
    if not isinstance(name, str):
        raise ConfigError(f"{where} must be an IANA timezone name like \"Europe/Berlin\", "
                          f"got {name!r}")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where} {name!r} is not a known IANA timezone; use a name like "
                          "\"Europe/Berlin\" or \"UTC\"") from None
    default = _wrapup(table.get("wrapup_seconds", 0), f"connect.{SYSTEM}.wrapup_seconds")
    queues = table.get("queues", {})
    if not isinstance(queues, Mapping):
        raise ConfigError(f"connect.{SYSTEM}.queues must be a table of queue tables "
                          f"([connect.{SYSTEM}.queues.sales]), got {queues!r}")
    per_queue: dict[str, int] = {}
    for queue, body in queues.items():
        if not isinstance(body, Mapping) or set(body) - {"wrapup_seconds"}:
            raise ConfigError(f"connect.{SYSTEM}.queues.{queue} takes only wrapup_seconds, "
                              f"got {body!r}")
        if "wrapup_seconds" in body:
            per_queue[str(queue)] = _wrapup(body["wrapup_seconds"],
                                            f"connect.{SYSTEM}.queues.{queue}.wrapup_seconds")
    aliases = names(f"connect.{SYSTEM}.agents", table.get("agents", {}),
                    'AGENT field = "agent id" (e.g. "Alice Smith" = "1001")')
    return {"zone": zone, "default_wrapup_us": default * 1_000_000,
            "wrapup_us": {q: s * 1_000_000 for q, s in per_queue.items()},
            "aliases": aliases}


def _wrapup(value: Any, key: str) -> int:
    from streams.sources.settings import whole_seconds

    return whole_seconds(key, value, 0, MAX_WRAPUP_SECONDS, " (the queue's wrapuptime)")


def build(args: argparse.Namespace, config: Any) -> Connector:
    """The connector for ``--queue-log`` (followed with ``--follow``)."""
    from streams.sources.asterisk_ql_map import AsteriskMapper
    from streams.sources.files import read_lines

    path = os.path.abspath(args.queue_log)
    mapper = AsteriskMapper(**settings(config, getattr(args, "timezone", None)))
    follow = bool(getattr(args, "follow", False))

    def read(position: Mapping[str, Any] | None) -> Iterator[Any]:
        return read_lines([path], position, follow=follow)

    return Connector(SYSTEM, path, read, mapper,
                     describe=f"queue_log {path}{': follow' if follow else ''}")
