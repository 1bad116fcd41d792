"""Restart and recovery of a worker holding a large state, through a real Kafka broker.

The worker's tables hold contact records (calls and chats, kept 48 h) and ticket records (open
tickets are kept until solved). This bench writes ``--contacts`` contact records and
``--tickets`` ticket records (mostly open) straight into the tables' changelog topics, in the
format the worker writes them (cloned, with fresh ids, from the records an engine keeps after
an hour of simulated traffic), then:

1. **new node**: starts ``ccpulse worker`` with an empty data directory. It recovers every
   record from the changelogs into its RocksDB store, then rebuilds its engines from them;
   the recovery rate is records ÷ the time until the tables are recovered;
2. **restart**: stops it (SIGTERM) and starts it again on the same data directory. Its local
   state is on disk and the clean stop wrote each engine's snapshot, so it reads only the
   changelog tail and restores its engines from the snapshots;
3. **crash**: sends it ``--live-events`` of live traffic, then kills it (SIGKILL: no snapshot
   at the end) and starts it again on the same data directory: its engines come from the
   last snapshots, caught up with the records journaled since (streams.worker.journal);
4. in every case, the time until ``/readyz`` says the tables are recovered, and until it answers
   200: the engines rebuilt from the recovered records, every record counting in the KPIs
   again. The sum of ``cc_tickets_open`` is shown too, the same before and after: a little
   under ``--tickets``, because the template filter (no ``solved``/``closed`` event) lets
   through a few tickets solved by a status change.

Prints a table (``--json``: also one JSON object of formatted results on the last line, for
``bench/bench_side_by_side.py``). Starts its own broker on free ports in a temp dir (or uses
``CCPULSE_TEST_BROKER``). Run:

    .venv/bin/python bench/bench_restart.py [--contacts 1000000] [--tickets 200000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from bench_worker import start_broker
from worker_harness import Worker, cli, free_port, wait_for

from streams.children import die_with_parent_hook
from streams.core.config import parse_config
from streams.core.engine import Engine
from streams.kafka.admin import ensure_topics
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.validation import decode
from streams.worker.checkpoint import encode_record

PARTITIONS = 4
TIMEOUT_S = 1800.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def say_new_lines(worker: Worker, shown: set[str]) -> None:
    """Print the worker log's ``ccpulse worker:`` and left-the-group lines not printed yet."""
    lines = [line for line in worker.log_tail(100_000).splitlines()
             if ("ccpulse worker:" in line or "did not leave the group" in line)
             and line not in shown]
    shown.update(lines)
    say("\n".join(lines))


def templates() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Contact records and open-ticket records an engine keeps after an hour of traffic."""
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    now_ms = time.time_ns() // 1_000_000
    engine = Engine(parse_config({}))
    for event in generate(busy, seed=3, start_ms=now_ms - 3_600_000, duration_ms=3_600_000):
        decoded = decode(orjson.dumps(event))
        engine.apply(decoded)  # type: ignore[arg-type]
    records = engine._records  # a bench may look inside
    contacts = [r for r in records.values() if r["kind"] == "contact"]
    tickets = [r for r in records.values() if r["kind"] == "ticket"
               and not any(e[3] in ("solved", "closed") for e in r["ev"])]
    return contacts, tickets


def clone(record: dict[str, Any], n: int, partition: int) -> bytes:
    """``record`` with every event id made unique by ``n``, in ``partition``."""
    events = [[*e[:2], f"{e[2]}~{n}", *e[3:]] for e in record["ev"]]
    return encode_record({**record, "p": partition, "ev": events})


async def fill_changelog(bootstrap: str, topic: str, records: list[dict[str, Any]],
                         count: int, prefix: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=1_048_576, acks=1)
    await producer.start()
    try:
        batches: dict[int, Any] = {}
        pending = []
        for n in range(count):
            partition = n % PARTITIONS
            template = records[n % len(records)]
            key = f"{prefix}:{n:08d}".encode()
            value = clone(template, n, partition)
            batch = batches.get(partition) or producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
            batches[partition] = batch
            if n and n % 200_000 == 0:
                say(f"  {topic}: {n:,} of {count:,} records")
        for partition, batch in batches.items():
            if batch.record_count():
                pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def live_traffic(events: int) -> bytes:
    """About ``events`` of busy simulated traffic ending now, as JSON lines."""
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    minutes = max(1, events // 100)  # ~150 events a minute in this scenario at full load
    start = time.time_ns() // 1_000_000 - minutes * 60_000
    out = [orjson.dumps(e) for e in generate(busy, seed=77, start_ms=start,
                                            duration_ms=minutes * 60_000)][:events]
    return b"\n".join(out) + b"\n"


def total(worker: Worker, family: str) -> float:
    return sum(v for (name, _), v in worker.metrics().items() if name == family)


def timed_start(worker: Worker) -> tuple[float, float]:
    """Seconds from starting the process until ``/readyz`` says the tables are recovered, and
    until it answers 200 (every engine rebuilt from the recovered records)."""
    t0 = time.monotonic()
    worker.data_dir.mkdir(parents=True, exist_ok=True)
    with open(worker.log_path, "ab") as log:
        worker.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                                       env=worker.env, stdout=log, stderr=subprocess.STDOUT,
                                       preexec_fn=die_with_parent_hook())
    recovered: list[float] = []

    def ready() -> bool:
        if worker.proc is not None and worker.proc.poll() is not None:
            raise AssertionError(f"worker exited:\n{worker.log_tail()}")
        try:
            with urllib.request.urlopen(worker.url + "/readyz", timeout=5) as answer:
                status, body = answer.status, answer.read()
        except urllib.error.HTTPError as exc:  # 503 while recovering or rebuilding
            status, body = exc.code, exc.read()
        except OSError:
            return False
        if not recovered and body and json.loads(body)["checks"].get("recovered"):
            recovered.append(time.monotonic() - t0)
        return status == 200

    wait_for(ready, "/readyz to answer 200", worker, timeout_s=TIMEOUT_S)
    done = time.monotonic() - t0
    return (recovered[0] if recovered else done), done


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--contacts", type=int, default=1_000_000,
                        help="contact records written into the changelogs (default 1,000,000)")
    parser.add_argument("--tickets", type=int, default=200_000,
                        help="ticket records, mostly open, written into the changelogs "
                        "(default 200,000)")
    parser.add_argument("--live-events", type=int, default=30_000,
                        help="live traffic sent before the crash (default 30,000 events)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ccpulse-restart-"))
    broker = None
    rows: list[tuple[str, str]] = []
    worker: Worker | None = None
    try:
        broker, bootstrap = start_broker(tmp)
        app = f"restart{int(time.time())}"
        prefix = app + "."
        say("building record templates from an hour of simulated traffic ...")
        contacts, tickets = templates()
        calls = f"{app}-calls-records-changelog"
        helpdesk = f"{app}-tickets-records-changelog"
        ensure_topics(bootstrap, [calls, helpdesk], PARTITIONS)
        say(f"writing {args.contacts:,} contact and {args.tickets:,} open-ticket records "
            "into the changelogs ...")
        asyncio.run(fill_changelog(bootstrap, calls, contacts, args.contacts, "call:bench"))
        asyncio.run(fill_changelog(bootstrap, helpdesk, tickets, args.tickets, "ticket:bench"))
        records = args.contacts + args.tickets

        shown: set[str] = set()  # the workers of one data directory share its log
        say("new node: empty data directory, recovery from the changelogs ...")
        worker = Worker(bootstrap, app, prefix, tmp / "node", free_port(), partitions=PARTITIONS)
        recovered, ready = timed_start(worker)
        open_tickets = total(worker, "cc_tickets_open")
        rows.append(("new node: tables recovered from the changelogs", f"{recovered:.1f} s"))
        rows.append(("new node: recovery rate (incl. process start)",
                     f"{records / recovered:,.0f} records/s"))
        rows.append(("new node: engines rebuilt, /readyz 200", f"{ready:.1f} s"))
        rows.append((f"cc_tickets_open after recovery (of {args.tickets:,} ticket records)",
                     f"{open_tickets:,.0f}"))
        stopped = time.monotonic()
        worker.stop()  # SIGTERM: a clean stop writes the engines' snapshots
        rows.append(("clean stop (SIGTERM), engine snapshots written",
                     f"{time.monotonic() - stopped:.1f} s"))
        say_new_lines(worker, shown)

        say("restart on the same data directory ...")
        worker = Worker(bootstrap, app, prefix, tmp / "node", free_port(), partitions=PARTITIONS)
        recovered, ready = timed_start(worker)
        rows.append((f"restart with {records:,} records: tables recovered", f"{recovered:.1f} s"))
        rows.append((f"restart with {records:,} records: engines rebuilt, /readyz 200",
                     f"{ready:.1f} s"))
        rows.append(("cc_tickets_open after restart",
                     f"{total(worker, 'cc_tickets_open'):,.0f}"))
        say_new_lines(worker, shown)

        say(f"crash: {args.live_events:,} live events, then SIGKILL and a restart ...")
        live = tmp / "live.jsonl"
        live.write_bytes(live_traffic(args.live_events))
        events = live.read_bytes().count(b"\n")
        before = total(worker, "cc_events_total")
        sent = cli("produce", str(live), "--broker", bootstrap, "--topic-prefix", prefix)
        assert sent.returncode == 0, sent.stderr.decode()
        wait_for(lambda: total(worker, "cc_events_total") >= before + events,
                 "the live events to be applied", worker, timeout_s=TIMEOUT_S)
        time.sleep(6.0)  # two commit intervals: the records are checkpointed and journaled
        open_before = total(worker, "cc_tickets_open")
        worker.kill()
        worker = Worker(bootstrap, app, prefix, tmp / "node", free_port(), partitions=PARTITIONS)
        recovered, ready = timed_start(worker)
        rows.append((f"crash (SIGKILL) after {args.live_events:,} live events: tables "
                     "recovered", f"{recovered:.1f} s"))
        rows.append(("crash: engines from snapshots and the journal, /readyz 200",
                     f"{ready:.1f} s"))
        rows.append(("cc_tickets_open before the crash and after the restart",
                     f"{open_before:,.0f} and {total(worker, 'cc_tickets_open'):,.0f}"))
        say_new_lines(worker, shown)
    finally:
        if worker is not None:
            worker.stop()
        if broker:
            broker.stop()
        logs = Path(tempfile.gettempdir()) / "ccpulse-bench-restart-logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        for log in tmp.rglob("*.log"):
            if log.name == "worker.log":
                shutil.copy(log, logs / log.name)
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(name) for name, _ in rows) + 2
    print(f"\n{'measure':<{width}}result")
    for name, result in rows:
        print(f"{name:<{width}}{result}")
    if args.json:
        print(json.dumps(dict(rows)))


if __name__ == "__main__":
    main()
