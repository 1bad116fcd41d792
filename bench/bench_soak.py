"""Soak: one worker under a steady live load for an hour, through a real Kafka broker.

``ccpulse simulate --scenario demo`` sends at ``--rate`` events per second (default 1,000):
its speed is chosen so that the demo centre's volume comes out at that rate, so an hour of
wall time covers about three weeks of simulated time, and stream time advances through many
retention periods (the engine prunes by stream time; state must stay bounded). One
``ccpulse worker`` consumes it and is scraped every ``--scrape-every`` seconds (15 s, as the
shipped Prometheus does). Every ``--report-every`` seconds a row: the worker's RSS, its open
file descriptors and threads, its consumer lag (messages), the events it has handled, the
median scrape time. At the end, the slope of RSS, file descriptors and lag per minute over
the second half of the run (the first half includes warm-up: caches, the first retention
period filling), by least squares, and the same over the whole run.

A soak is a benchmark, not a test: it prints, it never asserts. Starts its own broker on free
ports in a temp dir (or uses ``CCPULSE_TEST_BROKER``). Run:

    .venv/bin/python bench/bench_soak.py [--minutes 60] [--rate 1000] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_worker import TOPICS, start_broker
from worker_harness import Worker, free_port, parse_metrics

from streams.kafka.admin import ensure_topics

PARTITIONS = 4
SCENARIO = "demo"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def events_per_simulated_second(seed: int) -> float:
    """The demo centre's volume: events of one simulated hour ÷ 3,600."""
    done = subprocess.run([sys.executable, "-m", "streams.cli", "simulate", "--scenario",
                           SCENARIO, "--duration", "1h", "--seed", str(seed), "--out", "-"],
                          capture_output=True, check=True)
    return done.stdout.count(b"\n") / 3600


def proc_status(pid: int) -> tuple[float, int, int]:
    """RSS (MiB), open file descriptors, threads of ``pid`` (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    rss_mib = int(fields["VmRSS"].split()[0]) / 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_mib, fds, int(fields["Threads"])


def scrape(url: str) -> tuple[float, dict]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as answer:
        body = answer.read().decode()
    return (time.perf_counter() - began) * 1000, parse_metrics(body)


def total(metrics: dict, name: str) -> float:
    return sum(v for (n, _), v in metrics.items() if n == name)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(minute, value)`` points, per minute; NaN for fewer than 2."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--minutes", type=float, default=60.0, help="wall time of the soak")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--scrape-every", type=float, default=15.0, help="seconds")
    parser.add_argument("--report-every", type=float, default=60.0, help="seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="also a JSON summary line")
    args = parser.parse_args()

    speed = args.rate / events_per_simulated_second(args.seed)
    simulated_s = int(args.minutes * 60 * speed)
    tmp = Path(tempfile.mkdtemp(prefix="ccpulse-soak-"))
    broker, bootstrap = start_broker(tmp)
    prefix = f"soak{int(time.time())}."
    worker = Worker(bootstrap, prefix + "ccpulse", prefix, tmp / "worker", free_port(),
                    partitions=PARTITIONS)
    feed: subprocess.Popen[bytes] | None = None
    rows: list[dict] = []
    stack = contextlib.ExitStack()
    try:
        ensure_topics(bootstrap, [prefix + t for t in TOPICS], PARTITIONS)
        worker.start()
        assert worker.proc is not None
        say(f"soak: {args.minutes:g} min at {args.rate:,.0f} events/s "
            f"(simulate --scenario {SCENARIO} --speed {speed:,.1f}: "
            f"{simulated_s / 86400:,.1f} simulated days), scrape every {args.scrape_every:g} s")
        feed_log = stack.enter_context((tmp / "simulate.log").open("wb"))
        feed = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "simulate", "--scenario", SCENARIO,
             "--speed", f"{speed:.3f}", "--duration", str(simulated_s), "--seed",
             str(args.seed), "--broker", bootstrap, "--topic-prefix", prefix],
            stdout=subprocess.DEVNULL, stderr=feed_log)
        began = time.monotonic()
        next_scrape = next_report = began
        scrape_ms: list[float] = []
        header = (f"{'minute':>6} {'RSS MiB':>8} {'fds':>5} {'threads':>7} {'lag':>8} "
                  f"{'events':>11} {'scrape ms':>9}")
        print(header, flush=True)
        metrics: dict = {}
        while time.monotonic() - began < args.minutes * 60 and feed.poll() is None:
            now = time.monotonic()
            if now >= next_scrape:
                ms, metrics = scrape(worker.url + "/metrics")
                scrape_ms.append(ms)
                next_scrape += args.scrape_every
            if now >= next_report and metrics:
                rss, fds, threads = proc_status(worker.proc.pid)
                row = {"minute": (now - began) / 60, "rss_mib": rss, "fds": fds,
                       "threads": threads,
                       "lag": total(metrics, "cc_consumer_lag_messages"),
                       "events": total(metrics, "cc_events_total"),
                       "scrape_ms": statistics.median(scrape_ms) if scrape_ms else float("nan")}
                rows.append(row)
                scrape_ms = []
                print(f"{row['minute']:6.1f} {rss:8.1f} {fds:5d} {threads:7d} "
                      f"{row['lag']:8,.0f} {row['events']:11,.0f} {row['scrape_ms']:9.0f}",
                      flush=True)
                next_report += args.report_every
            time.sleep(0.2)
        if feed.poll() not in (None, 0):
            say(f"soak: simulate exited with {feed.returncode}: "
                + (tmp / "simulate.log").read_text()[-2000:])
    finally:
        if feed is not None and feed.poll() is None:
            feed.terminate()
            feed.wait()
        worker.stop()
        stack.close()
        if broker is not None:
            broker.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    half = [r for r in rows if r["minute"] >= (rows[-1]["minute"] / 2 if rows else 0)]
    summary = {}
    print(f"\n{'slope per minute':<18} {'second half':>12} {'whole run':>12}")
    for key, unit in (("rss_mib", "MiB"), ("fds", "fds"), ("lag", "messages")):
        late = slope([(r["minute"], r[key]) for r in half])
        whole = slope([(r["minute"], r[key]) for r in rows])
        summary[key] = {"second_half_per_min": late, "whole_per_min": whole}
        print(f"{key + ' (' + unit + ')':<18} {late:12.3f} {whole:12.3f}")
    if rows:
        print(f"\nevents handled {rows[-1]['events']:,.0f} in {rows[-1]['minute']:.1f} min; "
              f"RSS {rows[0]['rss_mib']:.0f} → {rows[-1]['rss_mib']:.0f} MiB")
    if args.json:
        print(json.dumps({"rows": rows, "slopes": summary}))


if __name__ == "__main__":
    main()
