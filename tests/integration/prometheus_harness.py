"""A real Prometheus and a real Alertmanager running the SHIPPED configuration, for tests.

    capture = WebhookCapture().start()
    am = Alertmanager(tmp_path / "am", free_port(), webhook_url=capture.url).start()
    prom = Prometheus(tmp_path / "prom", free_port(), worker_port=w.port,
                      alertmanager_port=am.port).start()
    prom.query('ALERTS{alertstate="firing"}')   # -> [Series(labels, value), ...]

``worker_port`` may also be a list of ports: one Prometheus scraping a fleet of workers (same
app id, each owning some partitions), as in production; ``monitored_fleet`` starts such a
fleet, ``monitored_worker`` a single worker.

What is copied and what is changed:

- ``deploy/prometheus/prometheus.yml`` is loaded as YAML and only its addresses are rewritten:
  the ``ccpulse`` job scrapes the test's worker(s), the ``prometheus`` and ``alertmanager`` jobs
  scrape the test's own servers, and alerts go to the test's Alertmanager. Intervals, timeouts,
  job names, ``rule_files`` and everything else stay as shipped, and ``rules/*.yml`` is copied
  next to it unchanged. A job this module does not know is an error, not silently kept: it would
  scrape whatever listens on a developer's machine.
- ``for_overrides`` (alert name -> duration) shortens the ``for:`` of named alerts in the copy,
  for tests that cannot wait the shipped 5 minutes. Expressions, labels and annotations stay.
- ``deploy/alertmanager/alertmanager.yml`` keeps its routes, timings, time intervals and
  inhibitions; only each receiver's webhook URL is pointed at ``webhook_url`` + ``/<receiver>``.

Both servers listen on 127.0.0.1 on the ports given (Debian starts its own on 9090/9093), keep
their data under the directory given, and log to a file there (``log_tail()`` for failures).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from worker_harness import WAIT_TIMEOUT_S, Worker, free_port

REPO = Path(__file__).resolve().parents[2]
SHIPPED_PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
SHIPPED_RULES = REPO / "deploy" / "prometheus" / "rules"
SHIPPED_ALERTMANAGER = REPO / "deploy" / "alertmanager" / "alertmanager.yml"

#: Seconds a server gets to stop on SIGTERM before it is killed.
STOP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 10.0


class Series(NamedTuple):
    """One element of an instant-query result (the ``value`` of a vector or a scalar)."""

    labels: dict[str, str]
    value: float


def require_binary(env_var: str, *names: str) -> str:
    """``$env_var``, else the first of ``names`` on PATH; skip without it, except under CI."""
    candidates = [os.environ[env_var]] if os.environ.get(env_var) else list(names)
    for name in candidates:
        path = shutil.which(name)
        if path is not None:
            return path
    message = (f"{' / '.join(candidates)} not found: install Debian's prometheus and "
               f"prometheus-alertmanager packages (deploy/setup.sh does) or set {env_var}")
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: failing instead of skipping)")
    pytest.skip(message)


def deadline_poll(condition: Callable[[], bool], what: str, logs: Callable[[], str],
                  timeout_s: float = WAIT_TIMEOUT_S, every_s: float = 0.5) -> None:
    """Poll ``condition`` until true; at the deadline fail naming ``what``, with ``logs()``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{logs()}")


def _http(url: str, *, data: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, http.client.HTTPException):  # not up, or gone mid-answer
        return 0, b""


# ------------------------------------------------------------------ configuration copies

def prometheus_config(shipped: Mapping[str, Any], *, worker: str | Sequence[str],
                      prometheus: str, alertmanager: str) -> dict[str, Any]:
    """``shipped`` with only the scrape targets and the Alertmanager address replaced;
    ``worker`` is one address or the addresses of every worker of a fleet."""
    config = json.loads(json.dumps(shipped))  # a deep copy of plain YAML data
    workers = [worker] if isinstance(worker, str) else list(worker)
    targets = {"ccpulse": workers, "prometheus": [prometheus], "alertmanager": [alertmanager]}
    for job in config["scrape_configs"]:
        name = job["job_name"]
        if name not in targets:
            raise ValueError(f"the shipped prometheus.yml has a job {name!r} this harness does "
                             f"not know; add its test address to prometheus_config()")
        if set(job) & {"file_sd_configs", "kubernetes_sd_configs", "dns_sd_configs"}:
            raise ValueError(f"job {name!r} uses service discovery; give it a static address")
        job["static_configs"] = [{"targets": targets[name]}]
    for manager in config["alerting"]["alertmanagers"]:
        manager["static_configs"] = [{"targets": [alertmanager]}]
    return config


def shorten_for(groups: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    """A copy of a rule file whose named alerts have ``for: overrides[name]``."""
    copy = json.loads(json.dumps(groups))
    for group in copy["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in overrides:
                rule["for"] = overrides[rule["alert"]]
    return copy


def alertmanager_config(shipped: Mapping[str, Any], webhook_url: str) -> dict[str, Any]:
    """``shipped`` with every receiver's webhooks sent to ``webhook_url/<receiver name>``."""
    config = json.loads(json.dumps(shipped))
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs") or []:
            webhook["url"] = f"{webhook_url}/{receiver['name']}"
    return config


# ------------------------------------------------------------------ servers

class _Server:
    """A subprocess listening on 127.0.0.1:``port``, logging to ``work_dir/<name>.log``."""

    name = "server"

    def __init__(self, work_dir: Path, port: int) -> None:
        self.work_dir = work_dir
        self.port = port
        self.log_path = work_dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _spawn(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.work_dir)
        deadline_poll(self._ready, f"{self.name} on port {self.port} to be ready",
                      self.log_tail)

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 f"{self.log_tail()}")
        return _http(self.url + "/-/ready")[0] == 200

    def get_json(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body = _http(self.url + path + query)
        assert status == 200, f"GET {path}{query} answered {status}: {body[:500]!r}"
        return json.loads(body)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return f"{self.name} log:\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return f"({self.name}: no log)"


class Prometheus(_Server):
    """``prometheus`` from a copy of the shipped configuration and rules."""

    name = "prometheus"

    def __init__(self, work_dir: Path, port: int, *, worker_port: int | Sequence[int],
                 alertmanager_port: int, for_overrides: Mapping[str, str] | None = None) -> None:
        super().__init__(work_dir, port)
        self.worker_ports = [worker_port] if isinstance(worker_port, int) else list(worker_port)
        self.alertmanager_port = alertmanager_port
        self.for_overrides = dict(for_overrides or {})
        self.config_path = work_dir / "prometheus.yml"

    def write_config(self) -> Path:
        """The rewritten prometheus.yml and rules/ under ``work_dir``; checked by promtool."""
        shipped = yaml.safe_load(SHIPPED_PROMETHEUS.read_text())
        config = prometheus_config(shipped,
                                   worker=[f"127.0.0.1:{port}" for port in self.worker_ports],
                                   prometheus=f"127.0.0.1:{self.port}",
                                   alertmanager=f"127.0.0.1:{self.alertmanager_port}")
        rules_dir = self.work_dir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        unused = set(self.for_overrides)
        for path in sorted(SHIPPED_RULES.glob("*.yml")):
            groups = yaml.safe_load(path.read_text())
            names = {rule.get("alert") for group in groups["groups"] for rule in group["rules"]}
            unused -= names
            if names & set(self.for_overrides):
                groups = shorten_for(groups, self.for_overrides)
                (rules_dir / path.name).write_text(yaml.safe_dump(groups, sort_keys=False))
            else:  # byte for byte as shipped
                shutil.copyfile(path, rules_dir / path.name)
        if unused:
            raise ValueError(f"for_overrides names alerts the shipped rules do not have: "
                             f"{sorted(unused)}")
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        promtool = require_binary("PROMTOOL", "promtool")
        check = subprocess.run([promtool, "check", "config", str(self.config_path)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert check.returncode == 0, f"promtool rejects the test copy:\n{check.stdout}" \
                                      f"{check.stderr}"
        return self.config_path

    def _command(self) -> list[str]:
        return [require_binary("PROMETHEUS", "prometheus"),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn"]

    def start(self) -> Prometheus:
        self.write_config()
        self._spawn()
        return self

    # -------------------------------------------------------------- HTTP API

    def query(self, expr: str, at: float | None = None) -> list[Series]:
        """``/api/v1/query``: the instant vector (or scalar) of ``expr`` now or ``at``."""
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        body = self.get_json("/api/v1/query", **params)
        assert body["status"] == "success", f"{expr}: {body}"
        data = body["data"]
        if data["resultType"] == "scalar":
            return [Series({}, float(data["result"][1]))]
        if data["resultType"] != "vector":
            raise AssertionError(f"{expr}: expected an instant vector, got {data['resultType']}")
        return [Series(item["metric"], float(item["value"][1])) for item in data["result"]]

    def value(self, expr: str) -> float | None:
        """The single value of ``expr``, or None when it has no result."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr}: expected at most one series, got {result}"
        return result[0].value if result else None

    def rules(self) -> list[dict[str, Any]]:
        """``/api/v1/rules``: every rule of every group, with its group name added."""
        groups = self.get_json("/api/v1/rules")["data"]["groups"]
        return [{**rule, "group": group["name"]} for group in groups for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v1/alerts``: pending and firing alerts."""
        return list(self.get_json("/api/v1/alerts")["data"]["alerts"])

    def successful_scrapes(self, job: str, over_s: float) -> int:
        """How many scrapes of ``job`` succeeded in the last ``over_s`` seconds."""
        value = self.value(f'sum(sum_over_time(up{{job="{job}"}}[{round(over_s)}s]))')
        return 0 if value is None or math.isnan(value) else int(value)


class Alertmanager(_Server):
    """``alertmanager`` (Debian: ``prometheus-alertmanager``) from the shipped configuration."""

    name = "alertmanager"

    def __init__(self, work_dir: Path, port: int, *, webhook_url: str) -> None:
        super().__init__(work_dir, port)
        self.webhook_url = webhook_url
        self.config_path = work_dir / "alertmanager.yml"

    def write_config(self) -> Path:
        shipped = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            yaml.safe_dump(alertmanager_config(shipped, self.webhook_url), sort_keys=False))
        return self.config_path

    def _command(self) -> list[str]:
        return [require_binary("ALERTMANAGER", "prometheus-alertmanager", "alertmanager"),
                f"--config.file={self.config_path}",
                f"--storage.path={self.work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip port on 0.0.0.0:9094
                "--log.level=warn"]

    def start(self) -> Alertmanager:
        self.write_config()
        self._spawn()
        return self

    def alerts(self) -> list[dict[str, Any]]:
        """``/api/v2/alerts``: every alert it holds (active, suppressed and unprocessed)."""
        return list(self.get_json("/api/v2/alerts"))


# ------------------------------------------------------------------ webhook receiver

class WebhookCapture:
    """An HTTP server that records what Alertmanager posts: ``(path, payload)`` pairs."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                with capture._lock:
                    capture.received.append((self.path, payload))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows what the test asserts

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WebhookCapture:
        self._thread.start()
        return self

    def notifications(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.received)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------------------------ the whole chain

@dataclass
class Stack:
    """A worker scraped by Prometheus, which alerts an Alertmanager, which posts to ``webhooks``."""

    worker: Worker
    prometheus: Prometheus
    alertmanager: Alertmanager
    webhooks: WebhookCapture

    def logs(self) -> str:
        return "\n".join((f"worker log:\n{self.worker.log_tail()}",
                          self.prometheus.log_tail(), self.alertmanager.log_tail()))


@dataclass
class Fleet:
    """Several workers (one consumer group) scraped by one Prometheus, which alerts an
    Alertmanager, which posts to ``webhooks``."""

    workers: list[Worker]
    prometheus: Prometheus
    alertmanager: Alertmanager
    webhooks: WebhookCapture

    def logs(self) -> str:
        return "\n".join((*(f"worker {i} log:\n{w.log_tail()}"
                            for i, w in enumerate(self.workers, start=1)),
                          self.prometheus.log_tail(), self.alertmanager.log_tail()))


@contextmanager
def monitored_fleet(bootstrap: str, app_id: str, work_dir: Path, *, workers: int,
                    partitions: int = 4, config_toml: str | None = None,
                    for_overrides: Mapping[str, str] | None = None) -> Iterator[Fleet]:
    """Webhook capture, Alertmanager, Prometheus scraping ``workers`` workers, then the workers
    one after the other (the same app id, so they share the partitions; topic prefix
    ``app_id.``; each its own port and data directory, ``work_dir/worker-<n>``, and the config
    file ``work_dir/ccpulse.toml`` when ``config_toml`` is given); all stopped on exit. Faust
    gives every worker at most ceil(partitions / workers) partitions of each topic: with 4
    partitions a third worker owns none, so a fleet of 3 needs 3 or 6 (deploy/ccpulse.toml).
    Prometheus starts first so that its rule groups are already ticking when the workers' first
    series appear."""
    with ExitStack() as stop:
        webhooks = WebhookCapture().start()
        stop.callback(webhooks.stop)
        alertmanager = Alertmanager(work_dir / "alertmanager", free_port(),
                                    webhook_url=webhooks.url)
        stop.callback(alertmanager.stop)
        alertmanager.start()
        names = ["worker"] if workers == 1 else [f"worker-{n}" for n in range(1, workers + 1)]
        fleet = [Worker(bootstrap, app_id, app_id + ".", work_dir / name, free_port(),
                        partitions=partitions)
                 for name in names]
        if config_toml is not None:
            (work_dir / "ccpulse.toml").write_text(config_toml)
            for worker in fleet:
                worker.env["CCPULSE_CONFIG"] = str(work_dir / "ccpulse.toml")
        prometheus = Prometheus(work_dir / "prometheus", free_port(),
                                worker_port=[worker.port for worker in fleet],
                                alertmanager_port=alertmanager.port, for_overrides=for_overrides)
        stop.callback(prometheus.stop)
        prometheus.start()
        for worker in fleet:
            stop.callback(worker.stop)
            worker.start()
        yield Fleet(fleet, prometheus, alertmanager, webhooks)


@contextmanager
def monitored_worker(bootstrap: str, app_id: str, work_dir: Path, *,
                     config_toml: str | None = None,
                     for_overrides: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """:func:`monitored_fleet` of one worker (``work_dir/worker``)."""
    with monitored_fleet(bootstrap, app_id, work_dir, workers=1, config_toml=config_toml,
                         for_overrides=for_overrides) as fleet:
        yield Stack(fleet.workers[0], fleet.prometheus, fleet.alertmanager, fleet.webhooks)


class HistoryPrometheus(Prometheus):
    """A Prometheus that scrapes nothing: it serves backfilled blocks under ``work_dir/data``
    (``promtool tsdb create-blocks-from openmetrics``), kept for ten years so that months in
    the past are not dropped at start-up."""

    def __init__(self, work_dir: Path, port: int) -> None:
        super().__init__(work_dir, port, worker_port=[], alertmanager_port=0)

    def write_config(self) -> Path:
        self.config_path.write_text("global:\n  evaluation_interval: 1m\n")
        return self.config_path

    def _command(self) -> list[str]:
        return [*super()._command(), "--storage.tsdb.retention.time=10y"]

    def import_openmetrics(self, promtool: str, days: Sequence[Path],
                           timeout_s: float = 600.0) -> None:
        """Import ``ccpulse backfill``'s day files into ``work_dir/data`` with ``promtool tsdb
        create-blocks-from openmetrics``, one promtool a core (a month's 38 days took 52 s one
        at a time). Each promtool writes into its own directory and its blocks (self-contained
        ULID directories) are then moved into the data directory.

        Raises AssertionError naming the day promtool rejects, with promtool's stderr.
        """
        data = self.work_dir / "data"
        data.mkdir(parents=True, exist_ok=True)

        def one(day: Path) -> None:
            out = self.work_dir / "import" / day.stem
            done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q",
                                   str(day), str(out)], capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
            assert done.returncode == 0, f"promtool rejects {day.name}:\n{done.stderr}"
            for block in out.iterdir():
                block.rename(data / block.name)

        pool = ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0)))
        try:
            for future in [pool.submit(one, day) for day in days]:
                future.result()
        finally:  # on a rejected day, the days not yet begun are not imported
            pool.shutdown(cancel_futures=True)
