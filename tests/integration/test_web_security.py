"""TLS and basic auth of the web endpoints (docs/security.md#web-endpoints), for real.

One CA (``streams.kafka._certs``) signs a certificate for 127.0.0.1; a web config file names it
and one bcrypt-hashed user. A worker started with it (``CCPULSE_WEB_CONFIG_FILE``) answers only
over HTTPS, its certificate verified against the CA: ``/metrics`` and ``/wallboard`` are 401
with ``WWW-Authenticate: Basic realm="ccpulse"`` without credentials or with wrong ones, 200
with the right ones; ``/readyz`` answers without credentials (the kubelet sends none). A real
Prometheus scraping it with the settings the shipped prometheus.yml carries as a comment
(``scheme: https``, ``tls_config.ca_file``, ``basic_auth`` with a ``password_file``),
uncommented and pointed at the test's files, reports ``up == 1``. ``ccpulse connect http`` with
``--web-config-file`` refuses a signed webhook without credentials (401) and accepts it with
them; the worker counts its events.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from prometheus_harness import SHIPPED_PROMETHEUS, Prometheus, deadline_poll
from worker_harness import WAIT_TIMEOUT_S, Worker, family_total, free_port, wait_for

from streams.core.timestamps import format_us
from streams.kafka._certs import write_ca_and_server_cert
from streams.sources import zendesk

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
USER, PASSWORD = "prometheus", "correct horse battery staple"
ZD_SECRET = "zendesk-web-security-secret"
CHALLENGE = 'Basic realm="ccpulse"'


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def request(url: str, context: ssl.SSLContext, headers: dict[str, str] | None = None,
            data: bytes | None = None) -> tuple[int, str]:
    """(status, WWW-Authenticate) of one request, the server's certificate checked."""
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as response:
            response.read()
            return response.status, response.headers.get("WWW-Authenticate", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("WWW-Authenticate", "")


def uncommented_secure_scrape(shipped: str) -> dict[str, Any]:
    """The commented-out ``scheme``/``tls_config``/``basic_auth`` lines of the shipped
    ``ccpulse`` job, uncommented: the settings a user switches on."""
    lines = shipped.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "# scheme: https")
    indent = lines[start].index("#")
    block = []
    for line in lines[start:]:
        match = re.match(" " * indent + r"# (.*)$", line)
        if not match:
            break
        block.append(match.group(1))
    settings = yaml.safe_load("\n".join(block))
    assert set(settings) == {"scheme", "tls_config", "basic_auth"}, settings
    return settings


class SecurePrometheus(Prometheus):
    """The shipped configuration with the commented secure-scrape settings switched on for
    the ``ccpulse`` job, their two file names pointed at the test's CA and password file."""

    def __init__(self, *args: Any, ca_file: Path, password_file: Path, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ca_file, self.password_file = ca_file, password_file

    def write_config(self) -> Path:
        path = super().write_config()
        config = yaml.safe_load(path.read_text())
        settings = uncommented_secure_scrape(SHIPPED_PROMETHEUS.read_text())
        assert settings["basic_auth"]["username"] == USER
        settings["tls_config"]["ca_file"] = str(self.ca_file)
        settings["basic_auth"]["password_file"] = str(self.password_file)
        (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "ccpulse"]
        job.update(settings)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        check = subprocess.run(["promtool", "check", "config", str(path)],
                               capture_output=True, text=True, timeout=60, check=False)
        assert check.returncode == 0, check.stdout + check.stderr
        return path


@pytest.fixture
def secured(tmp_path: Path) -> dict[str, Path]:
    """The CA, the server's key and certificate, a password file and the web config file."""
    ca, server = tmp_path / "ca.pem", tmp_path / "server.pem"
    write_ca_and_server_cert(ca, server, ["127.0.0.1", "localhost"])
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {server}\n  key_file: {server}\n"
                   f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    return {"ca": ca, "password": password_file, "web": web}


def test_worker_answers_only_https_with_credentials_and_prometheus_scrapes_it(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path,
        secured: dict[str, Path]) -> None:
    trust = ssl.create_default_context(cafile=str(secured["ca"]))
    worker = Worker(kafka_bootstrap, unique_name, unique_name + ".", tmp_path / "worker",
                    free_port())
    worker.env["CCPULSE_WEB_CONFIG_FILE"] = str(secured["web"])
    worker.scheme, worker.ssl_context = "https", trust
    prometheus = SecurePrometheus(tmp_path / "prometheus", free_port(), worker_port=worker.port,
                                  alertmanager_port=free_port(), ca_file=secured["ca"],
                                  password_file=secured["password"])
    try:
        worker.start()  # its /healthz answered over HTTPS, without credentials
        for path in ("/metrics", "/wallboard", "/wallboard.json"):
            url = worker.url + path
            assert request(url, trust) == (401, CHALLENGE), path
            assert request(url, trust, basic(USER, "wrong")) == (401, CHALLENGE), path
            assert request(url, trust, basic("someone", PASSWORD)) == (401, CHALLENGE), path
            assert request(url, trust, basic(USER, PASSWORD)) == (200, ""), path
        for probe in ("/readyz", "/livez", "/healthz"):
            assert request(worker.url + probe, trust) == (200, ""), probe
        # the image's HEALTHCHECK, with the worker's own settings, asks over HTTPS
        check = subprocess.run([sys.executable, "-m", "streams.worker.healthcheck"],
                               env=worker.env, capture_output=True, timeout=30, check=False)
        assert (check.returncode, check.stderr) == (0, b"")
        # plain HTTP gets no page, and a client that does not trust the CA refuses the server
        plain = f"http://127.0.0.1:{worker.port}/readyz"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(plain, timeout=10).read()
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            request(worker.url + "/readyz", ssl.create_default_context())

        prometheus.start()
        deadline_poll(lambda: prometheus.value('up{job="ccpulse"}') == 1.0,
                      'up{job="ccpulse"} == 1 over https with basic auth',
                      lambda: prometheus.log_tail() + "\nworker log:\n" + worker.log_tail())
        assert prometheus.value('count(cc_events_total{job="ccpulse"}) > 0') is not None
    finally:
        prometheus.stop()
        worker.stop()


class SecureReceiver:
    """``ccpulse connect http --web-config-file ...`` as a subprocess."""

    def __init__(self, broker: str, prefix: str, web: Path, log: Path,
                 context: ssl.SSLContext) -> None:
        self.port, self.log_path, self.context = free_port(), log, context
        self.url = f"https://127.0.0.1:{self.port}"
        env = {**os.environ, "CCPULSE_ZENDESK_SIGNING_SECRET": ZD_SECRET}
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "connect", "http", "--listen",
                 f"127.0.0.1:{self.port}", "--broker", broker, "--topic-prefix", prefix,
                 "--web-config-file", str(web)],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._healthy, "connect http to answer /healthz over https")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"connect http exited {self.proc.returncode}:\n{self.log()}")
        try:
            return request(self.url + "/healthz", self.context)[0] == 200
        except OSError:
            return False

    def post_zendesk(self, data: bytes, headers: dict[str, str]) -> tuple[int, str]:
        stamp = format_us(int(time.time()) * 1_000_000)
        signed = {zendesk.TIMESTAMP_HEADER: stamp, "Content-Type": "application/json",
                  zendesk.SIGNATURE_HEADER: zendesk.sign(ZD_SECRET.encode(), stamp, data)}
        return request(self.url + "/zendesk", self.context, {**signed, **headers}, data)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def test_webhook_receiver_needs_credentials_and_delivers_with_them(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path,
        secured: dict[str, Path]) -> None:
    trust = ssl.create_default_context(cafile=str(secured["ca"]))
    prefix = unique_name + "."
    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "worker", free_port())
    receiver = None
    payload = json.loads((FIXTURES / "zendesk" / "01-ticket-created.json").read_text())
    payload["detail"]["created_at"] = payload["detail"]["updated_at"] = payload["time"] = \
        format_us((int(time.time()) - 60) * 1_000_000)
    data = json.dumps(payload).encode()
    try:
        worker.start()
        receiver = SecureReceiver(kafka_bootstrap, prefix, secured["web"],
                                  tmp_path / "connect.log", trust)
        assert receiver.post_zendesk(data, {}) == (401, CHALLENGE)
        assert receiver.post_zendesk(data, basic(USER, "wrong")) == (401, CHALLENGE)
        assert request(receiver.url + "/stats", trust) == (401, CHALLENGE)
        assert family_total(worker, "cc_events_total") == 0
        assert receiver.post_zendesk(data, basic(USER, PASSWORD)) == (200, ""), receiver.log()
        wait_for(lambda: family_total(worker, "cc_events_total") >= 1,
                 "the worker to count the delivered webhook's event", worker,
                 timeout_s=WAIT_TIMEOUT_S)
    finally:
        if receiver is not None:
            receiver.stop()
        worker.stop()
