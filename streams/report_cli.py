"""``ccpulse report --month YYYY-MM (--events FILE… | --prometheus URL) --out DIR``: the
monthly customer-service report (docs/history.md), in ``report.json``, ``report.xlsx``,
``report.html`` and ``report.pdf`` (the page printed by headless Chromium)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.core.report import Report, Snapshot, build_report, month_plan
from streams.core.timestamps import format_us
from streams.errors import CcpulseError

PDF_TIMEOUT_S = 120
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_arg(text: str) -> str:
    if not _MONTH.match(text):
        raise argparse.ArgumentTypeError(f"a month is YYYY-MM, e.g. 2026-11, got {text!r}")
    return text


def timezone_arg(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IANA time zone (e.g. Europe/Lisbon, UTC)") from None
    return text


def lookback_arg(text: str) -> int:
    from streams.simulate.cli import parse_duration_ms

    ms = parse_duration_ms(text)
    if ms < 1000 or ms % 1000:
        raise argparse.ArgumentTypeError(f"a whole number of seconds ≥ 1s, got {text!r}")
    return ms // 1000


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` on the ``ccpulse`` sub-command parsers."""
    from streams.report_sources import DEFAULT_LOOKBACK_S

    p = subparsers.add_parser(
        "report", help="the monthly customer-service report (HTML, PDF, XLSX, JSON)",
        description="The monthly customer-service report: every KPI this month, last month "
                    "and the change, per queue and for the whole centre, charts and formulas. "
                    "Month counts are counter differences at the month's boundaries (in "
                    "--timezone), from the replay of an event archive (--events) or from a "
                    "Prometheus (--prometheus, instant `@` queries). Writes report.json, "
                    "report.xlsx, report.html and report.pdf (headless Chromium) in --out.")
    p.add_argument("--month", required=True, type=month_arg, metavar="YYYY-MM",
                   help="the calendar month to report")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", nargs="+", metavar="FILE",
                        help="JSON-lines event files (gzip too), replayed in order; they must "
                             "start before the month before --month for 'last month'")
    source.add_argument("--prometheus", metavar="URL",
                        help="a Prometheus holding ccpulse's series (http://host:9090)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--config", help="TOML config file (default: $CCPULSE_CONFIG)")
    p.add_argument("--timezone", type=timezone_arg, metavar="TZ",
                   help="zone of the month and day boundaries (default: the config's "
                        "[customers] timezone, else its [defaults] timezone)")
    p.add_argument("--lookback", type=lookback_arg, default=DEFAULT_LOOKBACK_S, metavar="D",
                   help="with --prometheus: a series' newest sample within D before each "
                        f"boundary is its value there (default {DEFAULT_LOOKBACK_S}s; at "
                        "least the scrape interval)")
    p.add_argument("--no-pdf", action="store_true", help="skip report.pdf (no Chromium)")
    p.set_defaults(func=run_report)
    return p


def default_timezone(config: Any) -> str:
    if config.customers.timezone != "UTC":
        return config.customers.timezone
    return config.defaults.timezone


def run_report(args: argparse.Namespace, err: TextIO | None = None) -> int:
    from streams.settings import load_config

    err = sys.stderr if err is None else err
    config = load_config(args.config)
    timezone = args.timezone or default_timezone(config)
    plan = month_plan(args.month, timezone, config.customers.timezone)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CcpulseError(f"cannot create the output folder {args.out!r}: "
                           f"{exc.strerror}") from None
    instants = plan.instants()
    if args.events:
        from streams.report_sources import event_snapshots
        from streams.runtime import tune_gc

        tune_gc()
        print(f"report: replaying {len(args.events)} file(s) for {len(instants)} instants",
              file=err)
        snapshots = event_snapshots(args.events, config, instants, err)
        source = "events: " + ", ".join(Path(p).name for p in args.events)
    else:
        from streams.report_sources import prometheus_snapshots

        snapshots = prometheus_snapshots(args.prometheus, instants, err, args.lookback)
        source = f"Prometheus {args.prometheus}"
    if not any(snapshots[plan.start_us].series.values()):
        print("report: nothing before the month's start: 'last month' has no data, and the "
              "month's open cases and customers count only what the month itself shows",
              file=err)
    elif not any(snapshots[plan.previous_start_us].series.values()):
        print("report: nothing before the previous month's start: 'last month' may cover "
              "only part of it", file=err)
    quiet_from = _unchanged_since(plan, snapshots)
    if quiet_from is not None:
        print(f"report: nothing changed after {format_us(quiet_from)[:10]}: the source may "
              "cover only part of the month (or none of it)", file=err)
    report = build_report(plan, snapshots, config, source)
    write_outputs(report, out, pdf=not args.no_pdf, err=err)
    return 0


def _unchanged_since(plan: Any, snapshots: dict[int, Snapshot]) -> int | None:
    """The earliest day boundary of the month after which no counter moved, if the month's
    last day saw nothing (a source that ends early, or a month beyond it); None otherwise."""
    def counters(at: int) -> dict[str, Any]:  # gauges (a backlog ageing) move by themselves
        return {name: series for name, series in snapshots[at].series.items()
                if name.endswith(("_total", "_count", "_sum"))}

    days = plan.days_us
    end = counters(days[-1])
    quiet = None
    for at in reversed(days[:-1]):
        if counters(at) != end:
            break
        quiet = at
    return quiet


def write_outputs(report: Report, out: Path, *, pdf: bool, err: TextIO) -> None:
    from streams.report_html import render_html
    from streams.report_xlsx import write_xlsx

    (out / "report.json").write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False)
                                     + "\n", encoding="utf-8")
    write_xlsx(report, out / "report.xlsx")
    page = out / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    written = ["report.json", "report.xlsx", "report.html"]
    if pdf:
        print_pdf(page, out / "report.pdf")
        written.append("report.pdf")
    print(f"report: wrote {', '.join(written)} in {out}", file=err)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise CcpulseError("report.pdf needs headless Chromium and none was found: install "
                       "chromium (apt-get install chromium) or pass --no-pdf")


def print_pdf(page: Path, pdf: Path) -> None:
    """``page`` printed by headless Chromium, with a throwaway profile."""
    with tempfile.TemporaryDirectory(prefix="ccpulse-chromium-") as profile:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={profile}", "--no-pdf-header-footer",
             f"--print-to-pdf={pdf.resolve()}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=PDF_TIMEOUT_S, check=False)
    if done.returncode != 0 or not pdf.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise CcpulseError(f"Chromium could not print {page} to PDF ({last}); pass --no-pdf "
                           "to skip it")
