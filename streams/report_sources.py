"""Snapshots for ``ccpulse report`` (streams.core.report) from its two sources.

* :func:`event_snapshots`: the replay over an event archive, read once, with a snapshot at
  each instant of the month plan: ``streams.backfill.backfill_streams`` with explicit instants,
  so the state at T is what ``ccpulse replay --as-of T`` and ``ccpulse backfill`` give at T.
* :func:`prometheus_snapshots`: a Prometheus HTTP API, one query per instant. The query is a
  range selector evaluated with the ``@`` modifier, ``{__name__=~"…"}[LOOKBACK] @ T``, which
  returns each series' raw samples in (T − LOOKBACK, T] with their own timestamps; the
  snapshot takes each series' newest sample. So a series that stopped more than LOOKBACK
  before T is not read at T (an instant query would still answer with it for Prometheus'
  5-minute lookback), and a backfill with a sample at T gives exactly the value at T. Series
  of several workers (``job``, ``instance``) are summed by the report's labels.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import BinaryIO, TextIO

from streams.backfill import BackfillResult, backfill_streams, open_archive
from streams.core.config import Config
from streams.core.metrics import Family
from streams.core.report import SAMPLE_NAMES, Labels, Snapshot, snapshot_from_families
from streams.core.timestamps import format_us
from streams.errors import CcpulseError

TIMEOUT_SECONDS = 60.0
PROGRESS_EVERY_S = 5.0
DEFAULT_LOOKBACK_S = 60


def event_snapshots(paths: Sequence[str], config: Config, instants: Sequence[int],
                    err: TextIO) -> dict[int, Snapshot]:
    """The replay's snapshot at every instant (events before the first still count)."""
    snapshots: dict[int, Snapshot] = {}

    def write(at_us: int, families: list[Family]) -> None:
        snapshots[at_us] = snapshot_from_families(at_us, families)

    next_line = [time.monotonic() + PROGRESS_EVERY_S]

    def progress(result: BackfillResult, newest_us: int) -> None:
        if time.monotonic() >= next_line[0]:
            next_line[0] = time.monotonic() + PROGRESS_EVERY_S
            print(f"report: events at {format_us(newest_us)[:16]}Z · "
                  f"{result.counts['read']:,} read", file=err, flush=True)

    opened: list[tuple[str, BinaryIO]] = []
    try:
        for path in paths:
            opened.append(open_archive(path))
        result = backfill_streams(opened, config, write, step_us=1, instants=instants,
                                  progress=progress)
    finally:
        for name, stream in opened:
            if name != "<stdin>":
                stream.close()
    for problem in result.problems:
        print(problem, file=err)
    empty = [name for name in result.sources if not result.valid_by_source[name]]
    if empty:
        raise CcpulseError(f"{', '.join(map(repr, empty))} holds no valid event at all; "
                           "check that it is a JSON-lines event file")
    print(f"report: read {result.counts['read']:,} events · {result.snapshots} snapshots",
          file=err)
    missing = [t for t in instants if t not in snapshots]
    if missing:
        raise CcpulseError(f"the events end before {format_us(missing[0])}: the archive "
                           "holds no event after the month's start; check --month")
    return snapshots


Fetch = Callable[[str, dict[str, str]], dict]


def http_fetch(url: str, form: dict[str, str]) -> dict:
    """POST ``form`` to ``url`` and decode the JSON answer (the one network call)."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            detail = exc.reason
        raise CcpulseError(f"Prometheus at {url} answered {exc.code}: {detail}") from None
    except http.client.HTTPException as exc:  # IncompleteRead, BadStatusLine: repr is one line
        raise CcpulseError(f"Prometheus at {url} broke off its answer ({exc!r}); try again, "
                           "or check --prometheus") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CcpulseError(f"cannot reach Prometheus at {url} ({reason}); check --prometheus "
                           "(e.g. http://localhost:9090)") from None


def snapshot_query(at_us: int, lookback_s: int) -> str:
    names = "|".join(SAMPLE_NAMES)
    return f'{{__name__=~"{names}"}}[{lookback_s}s] @ {at_us / 1e6:.6f}'


def prometheus_snapshots(base_url: str, instants: Sequence[int], err: TextIO,
                         lookback_s: int = DEFAULT_LOOKBACK_S,
                         fetch: Fetch = http_fetch) -> dict[int, Snapshot]:
    url = base_url.rstrip("/") + "/api/v1/query"
    snapshots: dict[int, Snapshot] = {}
    for number, at_us in enumerate(instants, start=1):
        answer = fetch(url, {"query": snapshot_query(at_us, lookback_s),
                             "time": f"{at_us / 1e6:.6f}"})
        if answer.get("status") != "success":
            raise CcpulseError(f"Prometheus at {url} failed the query: "
                               f"{answer.get('error', answer)}")
        series: dict[str, dict[Labels, float]] = {}
        for item in answer["data"]["result"]:
            labels = dict(item["metric"])
            name = labels.pop("__name__")
            values = [v for v in item.get("values", []) if float(v[0]) * 1e6 <= at_us + 1]
            if not values:
                continue
            key = tuple(sorted(labels.items()))
            by = series.setdefault(name, {})
            by[key] = by.get(key, 0.0) + float(values[-1][1])
        snapshots[at_us] = Snapshot(at_us, series)
        if number % 10 == 0 or number == len(instants):
            print(f"report: {number}/{len(instants)} instants read from Prometheus",
                  file=err, flush=True)
    if not any(snap.series for snap in snapshots.values()):
        raise CcpulseError(f"Prometheus at {base_url} has no cc_ series in or before the "
                           "month; check --prometheus and --month")
    return snapshots
