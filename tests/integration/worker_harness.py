"""Run ``ccpulse`` sub-commands as real subprocesses against the test broker.

The worker runs exactly as a user runs it (``python -m streams.cli worker``) with its own app
id, topic prefix, web port and data directory, so tests never share state.
"""

from __future__ import annotations

import http.client
import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from broker_security import environment_for
from ports import free_port as free_port  # the suites' one port picker, re-exported
from prometheus_client.parser import text_string_to_metric_families

from streams.children import die_with_parent_hook
from streams.worker.state import LIVE_WITHIN_US

#: One timeout for everything a test waits for (worker ready, events processed).
WAIT_TIMEOUT_S = 90.0

PIPELINE_FAMILIES = ("cc_events_", "cc_event_lag_seconds", "cc_last_event_timestamp_seconds",
                     "cc_consumer_lag_messages", "cc_dead_letters_pending", "cc_build_info",
                     "cc_entities", "cc_local_store_memory_bytes")
#: Families whose value moves with the clock between a scrape and the replay's --as-of.
CLOCK_FAMILIES = ("cc_queue_oldest_wait_seconds", "cc_occupancy_ratio",
                  "cc_per_agent_occupancy_ratio")
#: Agent-seconds up to the scrape (occupancy's numerator and denominator): every agent whose
#: state is still open adds the clock difference, a few milliseconds, so a fixed allowance.
AGENT_SECONDS_FAMILIES = ("cc_window_agent_busy_seconds", "cc_window_agent_staffed_seconds",
                          "cc_window_per_agent_busy_seconds",
                          "cc_window_per_agent_staffed_seconds",
                          "cc_window_per_agent_state_seconds")
AGENT_SECONDS_TOLERANCE = 5.0

Sample = tuple[str, frozenset[tuple[str, str]]]
#: The repository's root.
REPO = Path(__file__).resolve().parents[2]




def measured_code() -> str:
    """The commit of the checkout the tests or a bench run from (``git describe --always
    --dirty``: ``-dirty`` when files were changed), or ``unknown`` outside a git checkout."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def cli(*args: str, env: dict[str, str] | None = None, input_bytes: bytes | None = None,
        timeout: float = WAIT_TIMEOUT_S) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], env=env,
                          input=input_bytes, capture_output=True, timeout=timeout, check=False)


def parse_metrics(text: str) -> dict[Sample, float]:
    out: dict[Sample, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def kpis(values: dict[Sample, float]) -> dict[Sample, float]:
    """Only the KPI samples (pipeline-health metrics are per process, docs/contract.md §5)."""
    return {k: v for k, v in values.items() if not k[0].startswith(PIPELINE_FAMILIES)}


def differences(worker: dict[Sample, float], replay: dict[Sample, float]) -> list[str]:
    """Human-readable differences; clock-dependent gauges compared with a small tolerance."""
    problems = []
    for key in sorted(set(worker) | set(replay), key=str):
        a, b = worker.get(key), replay.get(key)
        if a is None or b is None:
            problems.append(f"{key[0]}{dict(key[1])}: worker={a} replay={b}")
        elif key[0] in AGENT_SECONDS_FAMILIES:
            if abs(a - b) > AGENT_SECONDS_TOLERANCE:
                problems.append(f"{key[0]}{dict(key[1])}: worker={a} replay={b}")
        elif key[0].startswith(CLOCK_FAMILIES):
            tolerance = 0.01 if key[0].endswith("ratio") else max(5.0, abs(b) * 0.02)
            if abs(a - b) > tolerance:
                problems.append(f"{key[0]}{dict(key[1])}: worker={a} replay={b}")
        elif abs(a - b) > 1e-9 * max(1.0, abs(b)):
            problems.append(f"{key[0]}{dict(key[1])}: worker={a} replay={b}")
    return problems


class Worker:
    """One ``ccpulse worker`` subprocess."""

    def __init__(self, bootstrap: str, app_id: str, prefix: str, data_dir: Path, port: int,
                 partitions: int = 4) -> None:
        self.port = port
        self.partitions = partitions
        self.data_dir = data_dir
        self.log_path = data_dir / "worker.log"
        self.env = {
            **environment_for(bootstrap),
            "CCPULSE_BROKER": bootstrap,
            "CCPULSE_APP_ID": app_id,
            "CCPULSE_TOPIC_PREFIX": prefix,
            "CCPULSE_WEB_PORT": str(port),
            "CCPULSE_DATA_DIR": str(data_dir),
            "CCPULSE_PARTITIONS": str(partitions),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        #: For a worker with a web config file: "https", the context trusting its CA, and the
        #: ``Authorization`` header every request of this harness sends.
        self.scheme = "http"
        self.ssl_context: ssl.SSLContext | None = None
        self.headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the worker and wait until its ``/healthz`` answers 200."""
        self.launch()
        self.wait_up()

    def launch(self) -> None:
        """Start the worker's process and return at once (see :meth:`wait_up`)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent_hook())

    def wait_up(self) -> None:
        """Wait until the launched worker's ``/healthz`` answers 200."""
        wait_for(lambda: self._get("/healthz")[0] == 200, "worker /healthz to answer 200",
                 self)

    def _get(self, path: str) -> tuple[int, str]:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            request = urllib.request.Request(self.url + path, headers=self.headers)
            with urllib.request.urlopen(request, timeout=5, context=self.ssl_context) as r:
                raw = r.read()
                if path == "/metrics":  # sent piece by piece, its length told first
                    assert r.headers["Content-Length"] == str(len(raw)), r.headers
                    assert r.headers["Transfer-Encoding"] is None, r.headers
                    # the whole of it: aiohttp cuts what is over a length told too short
                    assert raw.endswith(b"} 1.0\n") and b"\ncc_build_info{" in raw[-400:], \
                        raw[-400:]
                return r.status, raw.decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):  # not up, or gone mid-answer
            return 0, ""

    def metrics(self) -> dict[Sample, float]:
        status, body = self._get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return parse_metrics(body)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    """GET ``url``: its status and JSON body (``{}`` when it has none; ``(0, {})`` when nothing
    answered)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
    except (OSError, http.client.HTTPException):  # not up, or gone mid-answer
        return 0, {}


def wait_for(condition: Callable[[], bool], what: str, worker: Worker | None = None,
             timeout_s: float = WAIT_TIMEOUT_S) -> None:
    """Poll ``condition`` until true; fail naming ``what`` (and the worker log) at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    tail = f"\nworker log:\n{worker.log_tail()}" if worker else ""
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}{tail}")


def replay_kpis(paths: Path | Sequence[Path], as_of_us: int) -> dict[Sample, float]:
    """The KPI samples ``ccpulse replay`` gives for ``paths`` at the instant ``as_of_us``."""
    from streams.core.timestamps import format_us

    files = [paths] if isinstance(paths, Path) else list(paths)
    done = cli("replay", *map(str, files), "--as-of", format_us(as_of_us))
    assert done.returncode == 0, done.stderr.decode()
    return kpis(parse_metrics(done.stdout.decode()))


def wait_equals_replay(worker: Worker, paths: Path | Sequence[Path]) -> None:
    """Until the worker's KPIs equal the replay of ``paths`` at the scrape's instant; on a
    timeout the first differences are in the assertion message."""
    last: list[str] = []

    def check() -> bool:
        nonlocal last
        before = time.time_ns() // 1000
        scraped = kpis(worker.metrics())
        last = differences(scraped, replay_kpis(paths, (before + time.time_ns() // 1000) // 2))
        return not last

    try:
        wait_for(check, "the worker's KPIs to equal the replay's", worker)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nfirst differences:\n" + "\n".join(last[:20])) from None


#: The topics whose live ages (waiting contacts, the oldest wait, the tickets' backlog and
#: overdue first responses) a worker shows as of each partition's feed time: a topic whose
#: newest event was read a minute or more after it happened is shown as behind
#: (docs/decisions.md, "Live ages of a feed that is behind"), unlike the replay at the wall clock.
LIVE_AGE_TOPICS = frozenset({"cc.calls", "cc.chats", "cc.tickets"})
#: How recent the newest event of each such topic must be in traffic sent "ending now", when
#: made: a third of the worker's live margin (LIVE_WITHIN_US, a minute), the rest left to
#: send and read it.
FRESH_WITHIN_S = LIVE_WITHIN_US / 3 / 1e6
#: The multiplier of a scenario's rates for traffic that must be fresh on every topic: at the
#: contact-centre scenario's peak rate two minutes held ~12 ticket and customer events, and
#: the newest ticket event was 78 s old or absent (a test then waited up to two minutes for
#: a moment when no ticket's age crossed a threshold in the gap); thirty times that gives an
#: event on each within a second or two of the end.
FRESH_LOAD = 30.0


def check_fresh(events: Sequence[dict[str, Any]], topics: set[str], now_ms: int) -> None:
    """Fail unless ``events`` (traffic ending ``now_ms``) hold, on each of ``topics`` that has
    live ages (:data:`LIVE_AGE_TOPICS`), an event within :data:`FRESH_WITHIN_S` of the end:
    traffic that leaves such a topic behind makes a worker's live ages differ from the
    replay's for as long as it is behind."""
    from streams.core.timestamps import parse_us
    from streams.publish import topic_for_type

    newest: dict[str, int] = {}
    for event in events:
        topic = topic_for_type(event["type"])
        if topic is not None:
            newest[topic] = max(newest.get(topic, 0), parse_us(event["occurred_at"]) // 1000)
    stale = {topic: (now_ms - newest[topic]) / 1000 if topic in newest else None
             for topic in sorted(topics & LIVE_AGE_TOPICS)
             if topic not in newest or now_ms - newest[topic] > FRESH_WITHIN_S * 1000}
    assert not stale, (f"fresh traffic leaves topics behind (seconds since their newest event, "
                       f"None: no event): {stale}; raise its load (FRESH_LOAD)")


def topics_of(paths: Path | Sequence[Path]) -> set[str]:
    """The topics (without a prefix) the events in the JSON-lines files ``paths`` go to."""
    from streams.publish import topic_for_type

    files = [paths] if isinstance(paths, Path) else list(paths)
    types = {json.loads(line)["type"] for path in files
             for line in path.read_text().splitlines() if line.strip()}
    return {topic for topic in map(topic_for_type, types) if topic is not None}


def wait_caught_up(worker: Worker, paths: Path | Sequence[Path],
                   timeout_s: float = WAIT_TIMEOUT_S) -> None:
    """Until the worker has processed every message produced so far to the topics of the
    events in ``paths``: a ``cc_consumer_lag_messages`` sample for each of their partitions,
    all 0, on two polls a second apart (a fetch after the last produce has then told the
    worker its high-water marks).

    Send fresh traffic only after this: a worker that reads an event a minute or more after
    it happened shows that feed as behind (its live ages as of its stream time,
    docs/decisions.md), which the replay at the wall clock is not — a worker still reading a
    backlog on a loaded machine would read fresh traffic sent at once that late."""
    wanted = {(topic, str(p)) for topic in topics_of(paths) for p in range(worker.partitions)}
    seen_at: list[float] = []

    def caught_up() -> bool:
        lags = {(dict(labels)["topic"], dict(labels)["partition"]): v
                for (name, labels), v in worker.metrics().items()
                if name == "cc_consumer_lag_messages"}
        if not wanted <= lags.keys() or any(lags[k] for k in wanted):
            seen_at.clear()
            return False
        if not seen_at:
            seen_at.append(time.monotonic())
        return time.monotonic() - seen_at[0] >= 1.0

    wait_for(caught_up, "the worker to process every message produced so far", worker,
             timeout_s)


def family_total(worker: Worker, family: str) -> float:
    """The sum of every sample of ``family`` on the worker's ``/metrics``."""
    return sum(v for (name, _), v in worker.metrics().items() if name == family)
