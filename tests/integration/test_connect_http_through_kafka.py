"""``ccpulse connect http`` through the real broker into a running worker.

The Zendesk and Chatwoot fixtures, moved in time so that the newest is a minute old, are
POSTed, signed, to a running ``ccpulse connect http`` (a subprocess on a free port); the
worker's ``/metrics`` must equal ``ccpulse replay`` of the events the mappers make of the same
payloads. A request with a wrong signature is 401 and counts nothing; every delivery POSTed
twice counts once (the worker drops the second copies as duplicates). With a broker of the
test's own stopped, a POST is answered 503 within the delivery timeout; after the broker is
back the retried POST is 200 and a worker started then counts it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from worker_harness import (
    WAIT_TIMEOUT_S,
    Worker,
    family_total,
    free_port,
    wait_equals_replay,
    wait_for,
)

from streams.core.timestamps import format_us, parse_us
from streams.sources import chatwoot, zendesk
from streams.sources.base import Skipped
from streams.sources.webhooks import DELIVERY_TIMEOUT_S
from streams.validation import Invalid, decode_obj

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
ZD_SECRET = "zendesk-integration-secret"
CW_SECRET = "chatwoot-integration-secret"
T0 = 1773133200  # the fixtures' first second, 2026-03-10T09:00:00Z
SPAN_S = 3000  # the fixtures' newest time is before T0 + SPAN_S
TIME_KEYS = ("time", "created_at", "updated_at", "last_activity_at", "timestamp",
             "waiting_since")


def now_us() -> int:
    return time.time_ns() // 1000


def shifted(value: Any, delta_s: int, key: str = "") -> Any:
    """``value`` with every time field moved ``delta_s`` seconds (microseconds kept)."""
    if isinstance(value, dict):
        return {k: shifted(v, delta_s, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, delta_s, key) for v in value]
    if key in TIME_KEYS and isinstance(value, int | float) and not isinstance(value, bool) \
            and value > 1e9:
        return value + delta_s
    if key in TIME_KEYS and isinstance(value, str):
        try:
            return format_us(parse_us(value) + delta_s * 1_000_000)
        except ValueError:
            return value
    return value


def deliveries(delta_s: int) -> list[tuple[str, bytes]]:
    out = []
    for system in ("zendesk", "chatwoot"):
        for path in sorted((FIXTURES / system).glob("*.json")):
            payload = shifted(json.loads(path.read_text()), delta_s)
            out.append((system, json.dumps(payload).encode()))
    return out


def signed(system: str, data: bytes) -> tuple[dict[str, str], int]:
    """Headers as the system signs ``data`` now, and the signature time in microseconds."""
    seconds = int(time.time())
    if system == "zendesk":
        stamp = format_us(seconds * 1_000_000)
        return {zendesk.TIMESTAMP_HEADER: stamp,
                zendesk.SIGNATURE_HEADER: zendesk.sign(ZD_SECRET.encode(), stamp, data)}, \
            seconds * 1_000_000
    return {chatwoot.TIMESTAMP_HEADER: str(seconds),
            chatwoot.SIGNATURE_HEADER: chatwoot.sign(CW_SECRET.encode(), str(seconds), data)}, \
        seconds * 1_000_000


def expected_events(system: str, data: bytes, sent_us: int) -> list[dict[str, Any]]:
    payload = json.loads(data)
    if system == "zendesk":
        mapped = zendesk.map_payload(payload, zendesk.ZendeskSettings(), sent_us)
    else:
        mapped = chatwoot.map_payload(payload, chatwoot.ChatwootSettings())
    return [e for e in mapped if not isinstance(e, Skipped)
            and not isinstance(decode_obj(e, now_us()), Invalid)]


def post(url: str, data: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_S + 20) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class Receiver:
    """One ``ccpulse connect http`` subprocess."""

    def __init__(self, broker: str, prefix: str, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        env = {**os.environ, "CCPULSE_ZENDESK_SIGNING_SECRET": ZD_SECRET,
               "CCPULSE_CHATWOOT_SIGNING_SECRET": CW_SECRET}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "connect", "http", "--listen",
                 f"127.0.0.1:{self.port}", "--broker", broker, "--topic-prefix", prefix],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._healthy, "connect http to answer /healthz")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"connect http exited {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def deliver(self, system: str, data: bytes) -> tuple[int, list[dict[str, Any]]]:
        headers, sent_us = signed(system, data)
        return post(f"{self.url}/{system}", data, headers), expected_events(system, data,
                                                                            sent_us)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        return self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def write_events(path: Path, events: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))


def test_signed_webhooks_give_the_worker_the_replays_kpis_and_a_second_delivery_counts_once(
        kafka_bootstrap, unique_name, tmp_path):
    prefix = unique_name + "."
    delta = int(time.time()) - 60 - (T0 + SPAN_S)
    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
    receiver = None
    try:
        worker.start()
        receiver = Receiver(kafka_bootstrap, prefix, tmp_path / "connect.log")
        forged = json.loads((FIXTURES / "zendesk" / "01-ticket-created.json").read_text())
        forged["detail"]["id"] = "99999"
        data = json.dumps(shifted(forged, delta)).encode()
        headers, _ = signed("zendesk", data)
        headers[zendesk.SIGNATURE_HEADER] = zendesk.sign(b"not the secret",
                                                         headers[zendesk.TIMESTAMP_HEADER], data)
        assert post(receiver.url + "/zendesk", data, headers) == 401

        sent: list[dict[str, Any]] = []
        for system, data in deliveries(delta):
            status, events = receiver.deliver(system, data)
            assert status == 200, (system, data[:200], receiver.log())
            sent.extend(events)
        expected = tmp_path / "events.jsonl"
        write_events(expected, sent)
        assert len(sent) == 9 + 13
        wait_equals_replay(worker, expected)
        families = {name for name, _ in worker.metrics()}
        assert {"cc_tickets_open", "cc_csat_ratio", "cc_contacts_answered_total"} <= families
        if time.gmtime(T0 + delta).tm_yday == time.gmtime().tm_yday:
            # the windowed family has samples only while the deliveries are in today's window
            # (a run just after midnight UTC delivers yesterday's events)
            assert "cc_window_contacts_answered" in families

        for system, data in deliveries(delta):
            status, _ = receiver.deliver(system, data)
            assert status == 200
        wait_for(lambda: family_total(worker, "cc_events_duplicate_total") >= len(sent) - 1,
                 "the worker to drop the second deliveries as duplicates", worker)
        wait_equals_replay(worker, expected)
    finally:
        summary = receiver.stop() if receiver is not None else ""
        worker.stop()
    assert "rejected 1 (answered 4xx): bad_signature 1" in summary, summary


def test_a_post_while_kafka_is_down_is_503_and_the_retry_after_it_is_back_is_counted(
        new_local_broker, unique_name, tmp_path):
    broker = new_local_broker()
    broker.start(timeout_s=WAIT_TIMEOUT_S)
    prefix = unique_name + "."
    delta = int(time.time()) - 60 - (T0 + SPAN_S)
    by_name = dict(zip([f"{p.parent.name}/{p.name}" for s in ("zendesk", "chatwoot")
                        for p in sorted((FIXTURES / s).glob("*.json"))], deliveries(delta),
                       strict=True))
    first = by_name["zendesk/01-ticket-created.json"]
    second = by_name["zendesk/03-agent-assigned.json"]
    receiver = Receiver(broker.bootstrap, prefix, tmp_path / "connect.log")
    worker = None
    try:
        status, sent = receiver.deliver(*first)
        assert status == 200, receiver.log()
        broker.stop()
        began = time.monotonic()
        status, _ = receiver.deliver(*second)
        assert status == 503, receiver.log()
        assert time.monotonic() - began < DELIVERY_TIMEOUT_S + 5
        broker.start(timeout_s=WAIT_TIMEOUT_S)
        retried: list[dict[str, Any]] = []

        def retry() -> bool:
            status, events = receiver.deliver(*second)
            retried[:] = events
            return status == 200

        wait_for(retry, "a retried POST to be acknowledged after the broker restart")
        expected = tmp_path / "events.jsonl"
        write_events(expected, sent + retried)
        worker = Worker(broker.bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
        worker.start()
        wait_equals_replay(worker, expected)
    finally:
        summary = receiver.stop()
        if worker is not None:
            worker.stop()
    assert "answered 503" in summary, summary
