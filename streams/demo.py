"""``ccpulse demo``: a local broker, the topics, a worker and the simulator in one command.

It prints the URLs to open and a live one-line summary read from the worker's own
``/metrics`` every few seconds (so what you see is what Prometheus would scrape). Ctrl-C stops
the simulator, the worker and the broker it started, in that order, and leaves nothing running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from streams.core.events import DEADLETTER_TOPIC
from streams.errors import CcpulseError
from streams.settings import KafkaTarget, kafka_target, load_config

READY_TIMEOUT_S = 120.0
STATUS_EVERY_S = 5.0


def _say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except OSError:
        return 0, b""


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise CcpulseError(f"the worker exited with status {proc.returncode}; its log "
                               f"({log}) ends with:\n{tail}")
        if _get(url)[0] == 200:
            return
        time.sleep(0.5)
    raise CcpulseError(f"the worker was not ready after {READY_TIMEOUT_S:.0f} s; see {log}")


def _summary(metrics: bytes) -> str:
    """A one-line floor summary from the exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    waiting = offered = within = answered = events = 0.0
    for fam in text_string_to_metric_families(metrics.decode()):
        for s in fam.samples:
            if s.name == "cc_queue_contacts_waiting":
                waiting += s.value
            elif s.name == "cc_window_contacts_offered" and s.labels.get("window") == "today":
                offered += s.value
            elif s.name == "cc_contacts_answered_within_threshold_total":
                within += s.value
            elif s.name == "cc_contacts_answered_total":
                answered += s.value
            elif s.name == "cc_events_total":
                events += s.value
    share = f"{within / answered:.0%}" if answered else "n/a"
    return (f"events processed {events:,.0f} · waiting now {waiting:.0f} · offered today "
            f"{offered:,.0f} · answered within threshold {share}")


def _stop(proc: subprocess.Popen[bytes] | None, name: str) -> None:
    if proc is None or proc.poll() is not None:
        return
    _say(f"stopping {name}")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def child_env(environ: Mapping[str, str], target: KafkaTarget,
              config_path: str | None) -> dict[str, str]:
    """The environment of the worker and simulator the demo starts: both get the same broker
    and topic prefix (resolved once, by the demo) and the same config file."""
    env = {**environ, "CCPULSE_BROKER": target.broker,
           "CCPULSE_TOPIC_PREFIX": target.topic_prefix}
    if config_path:
        env["CCPULSE_CONFIG"] = str(Path(config_path).resolve())
    return env


#: What the demo runs with when no config file is named (first-response targets set).
DEMO_CONFIG = Path(__file__).with_name("demo.toml")


def run_demo(args: argparse.Namespace) -> int:
    from streams.kafka.admin import ensure_topics
    from streams.kafka.local_broker import LocalBroker
    from streams.worker.app import SOURCE_TOPICS

    if args.config is None and not os.environ.get("CCPULSE_CONFIG"):
        args.config = str(DEMO_CONFIG)
        _say(f"using the demo configuration {DEMO_CONFIG} (defaults plus first-response "
             "targets); --config FILE to use yours")
    config = load_config(args.config)
    d = config.deployment
    data = Path(d.data_dir)
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("ccpulse") or sys.argv[0]

    broker = LocalBroker(state_dir=data / "kafka", progress=_say)
    was_running = broker.status().running
    worker = simulator = None
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        _say("starting the local Kafka broker (first run fetches it from Maven Central)")
        broker.start()
        # The demo's own broker wins over any configured one; the prefix is the configured one.
        target = kafka_target(config, broker=broker.bootstrap)
        bootstrap = target.broker
        topics = [target.topic_prefix + t for t in (*SOURCE_TOPICS, DEADLETTER_TOPIC)]
        ensure_topics(bootstrap, topics, d.partitions)
        _say(f"topics ready: {', '.join(topics)}")

        env = child_env(os.environ, target, args.config)
        worker_log = logs / "worker.log"
        with open(worker_log, "ab") as out:
            worker = subprocess.Popen([exe, "worker"], env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://{d.web_host}:{d.web_port}"
        _say("starting the worker (it recovers its tables before it is ready)")
        _wait_healthy(base + "/healthz", worker, worker_log)

        sim_log = logs / "simulator.log"
        with open(sim_log, "ab") as out:
            simulator = subprocess.Popen(
                [exe, "simulate", "--speed", str(args.speed)], env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)
        _say(f"simulator running at {args.speed:g}× real time")
        print(
            "\n  Wallboard (browser):     " + base + "/wallboard"
            + "\n  KPIs (Prometheus text):  " + base + "/metrics"
            + "\n  Health:                  " + base + "/healthz"
            + f"\n  Kafka bootstrap:         {bootstrap}"
            + f"\n  Logs:                    {logs}/"
            + "\n\n  Press Ctrl-C to stop everything.\n", flush=True)
        while True:
            time.sleep(STATUS_EVERY_S)
            if worker.poll() is not None:
                raise CcpulseError(f"the worker stopped (status {worker.returncode}); "
                                   f"see {worker_log}")
            if simulator.poll() is not None:
                _say(f"the simulator finished (status {simulator.returncode}); see {sim_log}")
                simulator = None
            status, body = _get(base + "/metrics")
            if status == 200:
                _say(_summary(body))
    except KeyboardInterrupt:
        print(flush=True)
        _say("Ctrl-C: shutting down")
    finally:
        _stop(simulator, "the simulator")
        _stop(worker, "the worker")
        if not was_running:
            _say("stopping the Kafka broker")
            broker.stop()
        _say("all stopped")
    return 0
