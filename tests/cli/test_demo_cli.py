"""``ccpulse demo`` as a user runs it: a real broker, worker and simulator as subprocesses.

Every demo runs on free ports (``--web-port``, ``--broker-port``, ``--controller-port``) in a
data directory of its own, with its standard output in a pipe, as under ``| tee``. The tests
signal the demo's process group the way a terminal does and then look for every process the
demo started (pids from its lock file and the broker's pid file) — none may remain.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import free_port  # the suites' one: never the same port twice in a process

from streams.demo import STATUS_EVERY_S
from streams.demo_lock import DemoLock

DEMO_TIMEOUT_S = 120.0
"""Longest a demo may take to print its URLs, or to be gone after a signal."""

pytestmark = pytest.mark.skipif(shutil.which("java") is None,
                                reason="the demo needs Java (deploy/setup.sh installs it)")


def ccpulse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "streams.cli", *args]


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(predicate, what: str, timeout_s: float = DEMO_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.2)


class DemoRun:
    """One ``ccpulse demo`` subprocess with its own ports and data directory."""

    def __init__(self, data: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.web_port = free_port()
        self.env = {**os.environ, "CCPULSE_DATA_DIR": str(data), **(env or {})}
        self.env.pop("CCPULSE_CONFIG", None)
        self.args = ["--speed", "3600",  # the last hour replayed in a second: ready at once
                     "--web-port", str(self.web_port), "--broker-port", str(free_port()),
                     "--controller-port", str(free_port()), *extra]
        self.proc = subprocess.Popen(ccpulse_cmd("demo", *self.args), env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.lines: list[str] = []

    def wait_ready(self) -> None:
        """Read standard output until the URLs are printed."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))
            if "Press Ctrl-C" in self.lines[-1]:
                return
            if time.monotonic() > deadline:
                break
        err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
        pytest.fail("the demo did not get ready:\n" + "\n".join(self.lines) + err)

    def pids(self) -> dict[str, int]:
        """Every process the demo started: worker and simulator (lock file) and broker."""
        record = DemoLock(self.data).read()  # read again if caught mid-rewrite
        found = dict(record["children"])
        found["broker"] = int((self.data / "kafka" / "kafka.pid").read_text())
        return found

    def log(self) -> str:
        return (self.data / "logs" / "demo.log").read_text()

    def signal_group(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def wait_gone(self, pids: dict[str, int]) -> int:
        try:
            status = self.proc.wait(timeout=DEMO_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the demo did not end {DEMO_TIMEOUT_S:g} s after the signal\n"
                        + self.where_it_hangs())
        wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()),
                   f"the demo's children {pids} to end")
        return status

    def where_it_hangs(self) -> str:
        """What the kernel says of the demo (state, signal masks, where it waits), its Python
        stacks (the demo dumps them on SIGUSR1) and its log; the demo is killed."""
        pid = self.proc.pid
        lines = []
        with contextlib.suppress(OSError):
            lines += [line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if line.startswith(("State", "Sig", "Shd", "Threads"))]
            lines.append("wchan: " + Path(f"/proc/{pid}/wchan").read_text())
            lines.append("syscall: " + Path(f"/proc/{pid}/syscall").read_text().strip())
        stacks = self.stacks()
        os.kill(pid, signal.SIGKILL)
        return "\n".join([*lines, "stacks:", stacks, "demo.log:", self.log()])

    def stacks(self) -> str:
        """The demo's Python stacks, as ``kill -USR1`` has it print them on standard error."""
        assert self.proc.stderr is not None
        os.set_blocking(self.proc.stderr.fileno(), False)
        os.kill(self.proc.pid, signal.SIGUSR1)
        time.sleep(1.0)
        return (self.proc.stderr.read() or b"").decode(errors="replace")

    def kill_all(self) -> None:
        """Last resort at the end of a failed test: nothing of ours may outlive it."""
        pids = {}
        with contextlib.suppress(OSError, ValueError, KeyError):
            pids = self.pids()
        for pid in [self.proc.pid, *pids.values()]:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def demos(tmp_path: Path) -> Iterator[list[DemoRun]]:
    runs: list[DemoRun] = []
    yield runs
    for run in runs:
        run.kill_all()


def test_ctrl_c_with_the_pipe_gone_stops_everything_and_a_second_demo_is_told_how_to_stop(
        tmp_path: Path, demos: list[DemoRun]):
    demo = DemoRun(tmp_path / "data")
    demos.append(demo)
    demo.wait_ready()
    pids = demo.pids()
    assert all(pid_alive(pid) for pid in pids.values()), pids

    second = subprocess.run(ccpulse_cmd("demo", *demo.args), env=demo.env,
                            capture_output=True, timeout=60, check=False)
    assert second.returncode == 1
    assert second.stderr.decode() == (
        f"Error: a demo is already running from {demo.data} (pid {demo.proc.pid}, wallboard "
        f"http://127.0.0.1:{demo.web_port}/wallboard); stop it with `ccpulse demo --stop`, or "
        "give this one its own CCPULSE_DATA_DIR, --web-port, --broker-port and --controller-port\n")

    stacks = demo.stacks()  # what `kill -USR1` shows of a demo that seems stuck; it goes on
    assert "most recent call first" in stacks and "in _watch" in stacks, stacks
    assert demo.proc.poll() is None

    demo.proc.stdout.close()  # what `| tee` does when the same Ctrl-C kills it
    demo.signal_group(signal.SIGINT)
    assert demo.wait_gone(pids) == 0
    assert demo.log().splitlines()[-1] == "[demo] all stopped"
    assert "Ctrl-C: shutting down" in demo.log()

    # the next demo on this data directory carries on from its topics and tables, from now
    again = DemoRun(demo.data)
    demos.append(again)
    again.wait_ready()
    assert "[demo] continuing the previous demo's state" in again.log()
    assert "[demo] simulator running in real time from now" in again.log()
    pids = again.pids()
    again.signal_group(signal.SIGINT)
    assert again.wait_gone(pids) == 0


def test_the_simulator_ending_and_the_broker_going_away_are_said_once_and_stop_ends_it(
        tmp_path: Path, demos: list[DemoRun]):
    demo = DemoRun(tmp_path / "data")
    demos.append(demo)
    demo.wait_ready()
    pids = demo.pids()
    printed = [line.split()[-1] for line in demo.lines
               if f"http://127.0.0.1:{demo.web_port}/" in line]
    assert [url.rsplit("/", 1)[1] for url in printed] == [
        "wallboard", "staffing", "metrics", "readyz"]
    for url in printed:  # every address the demo prints answers once it is printed
        assert urllib.request.urlopen(url, timeout=10).status == 200, url

    os.killpg(pids["simulate"], signal.SIGTERM)
    wait_until(lambda: "the simulator ended" in demo.log(), "the demo to see the simulator end")
    health = urllib.request.urlopen(f"http://127.0.0.1:{demo.web_port}/healthz", timeout=10)
    assert health.status == 200 and demo.proc.poll() is None

    stopped = subprocess.run(ccpulse_cmd("kafka", "stop", "--state-dir",
                                         str(demo.data / "kafka")),
                             env=demo.env, capture_output=True, timeout=60, check=False)
    assert stopped.returncode == 0, stopped.stderr.decode()
    wait_until(lambda: "the Kafka broker stopped" in demo.log(), "the demo to see the broker go")
    time.sleep(12)  # two more status rounds: the message must not repeat
    assert demo.log().count("the Kafka broker stopped") == 1
    assert demo.proc.poll() is None

    done = subprocess.run(ccpulse_cmd("demo", "--stop"), env=demo.env, capture_output=True,
                          timeout=DEMO_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == f"stopped the demo (was pid {demo.proc.pid})\n"
    assert demo.wait_gone(pids) == 0
    again = subprocess.run(ccpulse_cmd("demo", "--stop"), env=demo.env, capture_output=True,
                           timeout=60, check=False)
    assert again.stdout.decode() == f"no demo is running from {demo.data}\n"


def ready_demo_without_feed(tmp_path: Path, demos: list[DemoRun]) -> tuple[DemoRun, str]:
    """A demo once ready, its simulator stopped so that no number changes from here on, and
    the base URL of its worker."""
    demo = DemoRun(tmp_path / "data")
    demos.append(demo)
    demo.wait_ready()
    os.killpg(demo.pids()["simulate"], signal.SIGTERM)
    wait_until(lambda: "the simulator ended" in demo.log(), "the simulator to end")
    return demo, f"http://127.0.0.1:{demo.web_port}"


def test_a_killed_worker_is_started_again_from_its_snapshots_and_the_numbers_stay(
        tmp_path: Path, demos: list[DemoRun]):
    """SIGKILL the demo's worker (a crash, the OOM killer): the demo starts it again on the
    same data directory, says so, and the worker comes back from its engine snapshots
    (``/readyz`` says how) with the counters it had."""
    demo, base = ready_demo_without_feed(tmp_path, demos)

    def offered() -> float:
        text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
                   if line.startswith("cc_contacts_offered_total{"))

    before = offered()
    assert before > 0
    time.sleep(6)  # two commit intervals: every record checkpointed
    old = demo.pids()["worker"]
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: "the worker is back" in demo.log(), "the demo to restart the worker",
               timeout_s=2 * DEMO_TIMEOUT_S)
    log = demo.log()
    assert "the worker stopped (killed by SIGKILL); starting it again" in log
    assert demo.proc.poll() is None and demo.pids()["worker"] != old
    ready = json.loads(urllib.request.urlopen(base + "/readyz", timeout=10).read())
    assert ready["engines"]["restored_from_snapshots"] > 0, ready
    assert offered() == before
    # the demo's events count goes on from where the killed worker left it (each worker
    # process counts cc_events_total from its start)
    time.sleep(2 * STATUS_EVERY_S)  # a status line of the restarted worker, if it changed
    counts = [int(n.replace(",", "")) for n in re.findall(r"events processed ([\d,]+)",
                                                           demo.log())]
    assert counts and counts == sorted(counts), counts
    pids = demo.pids()
    demo.signal_group(signal.SIGINT)
    assert demo.wait_gone(pids) == 0


def test_a_worker_killed_again_before_it_is_ready_is_started_again_after_a_back_off(
        tmp_path: Path, demos: list[DemoRun]):
    """A supervisor retries: the worker the demo started again is killed before it is ready
    (the out-of-memory killer striking during recovery); the demo waits 2 s, starts it once
    more, and it comes back with the counters it had."""
    demo, base = ready_demo_without_feed(tmp_path, demos)
    before = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    offered = sorted(line for line in before.splitlines()
                     if line.startswith("cc_contacts_offered_total{"))
    time.sleep(6)  # two commit intervals: every record checkpointed
    first = demo.pids()["worker"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: demo.pids()["worker"] != first, "the demo to start the worker again")
    os.kill(demo.pids()["worker"], signal.SIGKILL)  # at once: long before it is ready
    wait_until(lambda: "the worker is back" in demo.log(), "the demo to restart the worker",
               timeout_s=2 * DEMO_TIMEOUT_S)
    log = demo.log()
    assert "the worker stopped again (killed by SIGKILL); starting it again in 2 s" in log, log
    assert demo.proc.poll() is None
    after = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    assert sorted(line for line in after.splitlines()
                  if line.startswith("cc_contacts_offered_total{")) == offered
    pids = demo.pids()
    demo.signal_group(signal.SIGINT)
    assert demo.wait_gone(pids) == 0


def test_a_worker_killed_while_the_demo_catches_up_is_started_again(
        tmp_path: Path, demos: list[DemoRun]):
    """The replay of the last hour at 60× takes a minute: a worker killed then is started
    again at once, not left dead until the catch-up wait ends."""
    demo = DemoRun(tmp_path / "data", "--speed", "60")
    demos.append(demo)
    # the demo has seen its worker ready and started the replay (a worker killed before the
    # demo saw it ready is a failed start, which ends the demo)
    log = demo.data / "logs" / "demo.log"
    wait_until(lambda: log.exists() and "simulator replaying" in demo.log(), "the replay started")
    first = demo.pids()["worker"]
    assert "caught up" not in demo.log()
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: "the worker is back" in demo.log(), "the demo to restart the worker")
    assert "caught up" not in demo.log().partition("the worker is back")[0]
    assert demo.pids()["worker"] != first
    pids = demo.pids()
    demo.signal_group(signal.SIGINT)
    assert demo.wait_gone(pids) == 0


def test_reset_starts_from_empty_state_and_a_hang_up_stops_everything(
        tmp_path: Path, demos: list[DemoRun]):
    data = tmp_path / "data"
    stale = data / "kafka" / "data" / "left-from-an-earlier-run"
    stale.mkdir(parents=True)
    (data / "v1" / "tables").mkdir(parents=True)
    demo = DemoRun(data, "--reset")
    demos.append(demo)
    demo.wait_ready()
    assert any(line.startswith("[demo] reset: ") for line in demo.lines)
    assert not stale.exists()
    pids = demo.pids()
    demo.signal_group(signal.SIGHUP)
    assert demo.wait_gone(pids) == 0
    assert "SIGHUP: shutting down" in demo.log()


def test_a_killed_demo_takes_its_children_with_it(tmp_path: Path, demos: list[DemoRun]):
    demo = DemoRun(tmp_path / "data")
    demos.append(demo)
    demo.wait_ready()
    pids = demo.pids()
    os.kill(demo.proc.pid, signal.SIGKILL)
    demo.proc.wait(timeout=10)
    wait_until(lambda: not any(pid_alive(pid) for pid in pids.values()),
               f"the children {pids} of a killed demo to end")


class TestPortsInUse:
    """A taken port is one line naming the option to change, before anything starts."""

    def test_the_web_port(self, tmp_path: Path):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            done = subprocess.run(
                ccpulse_cmd("demo", "--web-port", str(port), "--broker-port", str(free_port()),
                            "--controller-port", str(free_port())),
                env={**os.environ, "CCPULSE_DATA_DIR": str(tmp_path)}, capture_output=True,
                timeout=60, check=False)
        assert done.returncode == 1
        assert done.stderr.decode() == (
            f"Error: port {port} on 127.0.0.1 (the worker's web port) is already in use by "
            "another program; choose a free one with --web-port or CCPULSE_WEB_PORT\n")
        assert not (tmp_path / "kafka" / "kafka.pid").exists()

    def test_the_broker_port(self, tmp_path: Path):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            done = subprocess.run(
                ccpulse_cmd("demo", "--web-port", str(free_port()), "--broker-port", str(port),
                            "--controller-port", str(free_port())),
                env={**os.environ, "CCPULSE_DATA_DIR": str(tmp_path)}, capture_output=True,
                timeout=60, check=False)
        assert done.returncode == 1
        err = done.stderr.decode()
        assert err.count("\n") == 1 and err.startswith(f"Error: port {port} on 127.0.0.1 is ")
        assert err.endswith("choose another port with --broker-port.\n")

    def test_the_worker_web_port(self, tmp_path: Path):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            done = subprocess.run(
                ccpulse_cmd("worker"), capture_output=True, timeout=60, check=False,
                env={**os.environ, "CCPULSE_WEB_PORT": str(port), "CCPULSE_BROKER":
                     "127.0.0.1:1"})
        assert done.returncode == 1
        assert done.stderr.decode() == (
            f"Error: port {port} on 127.0.0.1 (the worker's web port) is already in use by "
            "another program; choose a free one with [worker] web_port in the config or "
            "CCPULSE_WEB_PORT\n")


def _metric(port: int, name: str, **labels: str) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def test_a_demo_fed_by_a_followed_asterisk_queue_log_shows_its_calls_and_stops_it(
        tmp_path: Path, demos: list[DemoRun]):
    now = int(time.time())
    queue_log = tmp_path / "queue_log"
    queue_log.write_text(
        f"{now - 90}|1700.1|support|NONE|ENTERQUEUE||5551234|1\n"
        f"{now - 80}|1700.1|support|PJSIP/1001|CONNECT|10|1700.2|2\n")
    demo = DemoRun(tmp_path / "data", "--source", "asterisk", "--queue-log", str(queue_log),
                   "--follow")
    demos.append(demo)
    demo.wait_ready()
    voice = {"queue": "support", "channel": "voice"}
    wait_until(lambda: _metric(demo.web_port, "cc_contacts_answered_total", **voice) == 1.0,
               "the answered call on /metrics")
    with queue_log.open("a") as log:  # the switch writes on: the followed log is read on
        log.write(f"{now - 5}|1700.3|support|NONE|ENTERQUEUE||5559876|1\n"
                  f"{now - 1}|1700.3|support|NONE|ABANDON|1|1|4\n")
    wait_until(lambda: (_metric(demo.web_port, "cc_contacts_abandoned_total", **voice) or 0)
               + (_metric(demo.web_port, "cc_contacts_short_abandoned_total", **voice) or 0)
               == 1.0, "the abandon on /metrics")
    pids = demo.pids()
    assert "connect" in pids and "simulate" not in pids
    demo.signal_group(signal.SIGINT)
    assert demo.wait_gone(pids) == 0
    assert "stopping the asterisk connector" in demo.log()


def test_a_demo_source_with_a_wrong_option_is_a_usage_error_before_anything_starts(
        tmp_path: Path):
    done = subprocess.run(
        ccpulse_cmd("demo", "--source", "asterisk", "--queue-lgo", "x", "--web-port",
                    str(free_port()), "--broker-port", str(free_port())),
        env={**os.environ, "CCPULSE_DATA_DIR": str(tmp_path)}, capture_output=True,
        timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.decode() == ("Error: the following arguments are required: --queue-log. "
                                    "Try 'ccpulse connect asterisk --help'.\n")
    assert not (tmp_path / "kafka" / "kafka.pid").exists()


def test_a_demo_source_whose_file_does_not_exist_fails_before_anything_starts(tmp_path: Path):
    done = subprocess.run(
        ccpulse_cmd("demo", "--source", "asterisk", "--queue-log", str(tmp_path / "nope"),
                    "--web-port", str(free_port()), "--broker-port", str(free_port())),
        env={**os.environ, "CCPULSE_DATA_DIR": str(tmp_path)}, capture_output=True,
        timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.decode() == f"Error: '{tmp_path / 'nope'}' does not exist; check the path\n"
    assert not (tmp_path / "kafka" / "kafka.pid").exists()


def test_a_demo_fed_by_signed_zendesk_webhooks_shows_the_ticket(tmp_path: Path,
                                                                demos: list[DemoRun]):
    from datetime import UTC, datetime

    from streams.sources import zendesk

    secret = "demo-signing-secret"
    listen = free_port()
    demo = DemoRun(tmp_path / "data", "--source", "http", "--listen", f"127.0.0.1:{listen}",
                   env={"CCPULSE_ZENDESK_SIGNING_SECRET": secret})
    demos.append(demo)
    demo.wait_ready()
    assert (f"  Webhooks (POST):         http://127.0.0.1:{listen}/zendesk, /chatwoot"
            in demo.lines)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({
        "type": "zen:event-type:ticket.created", "id": "01JDEMO", "time": stamp,
        "detail": {"id": "42", "status": "NEW", "priority": "NORMAL", "group_id": "360001",
                   "requester_id": "7"}, "event": {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{listen}/zendesk", data=body, method="POST",
        headers={zendesk.TIMESTAMP_HEADER: stamp, "Content-Type": "application/json",
                 zendesk.SIGNATURE_HEADER: zendesk.sign(secret.encode(), stamp, body)})
    wait_until(lambda: _post_ok(request), "the receiver to accept the signed webhook")
    wait_until(lambda: _metric_sum(demo.web_port, "cc_tickets_created_total") == 1.0,
               "the ticket on /metrics")
    pids = demo.pids()
    assert "connect" in pids
    demo.signal_group(signal.SIGINT)
    assert demo.wait_gone(pids) == 0
    assert "stopping the http connector" in demo.log()


def _post_ok(request: urllib.request.Request) -> bool:
    try:
        return urllib.request.urlopen(request, timeout=15).status == 200
    except (OSError, urllib.error.HTTPError):
        return False


def _metric_sum(port: int, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return sum(s.value for family in text_string_to_metric_families(body)
               for s in family.samples if s.name == name)


def test_a_demo_with_a_web_config_file_is_refused_before_anything_starts(tmp_path: Path):
    web_config = tmp_path / "web.yml"
    web_config.write_text("basic_auth_users: {}\n")
    done = subprocess.run(
        ccpulse_cmd("demo", "--web-port", str(free_port()), "--broker-port", str(free_port())),
        env={**os.environ, "CCPULSE_DATA_DIR": str(tmp_path),
             "CCPULSE_WEB_CONFIG_FILE": str(web_config)},
        capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "Error: the demo serves its worker over plain HTTP on 127.0.0.1; drop web_config_file "
        "from [worker] (or unset CCPULSE_WEB_CONFIG_FILE) for `ccpulse demo`\n")
    assert not (tmp_path / "kafka" / "kafka.pid").exists()
