"""``ccpulse demo``: a local broker, the topics, a worker and the simulator in one command.

It prints the URLs to open and a one-line summary read from the worker's own ``/metrics``
whenever it changes (what you see is what Prometheus would scrape). Ctrl-C, SIGTERM, a closed
terminal (SIGHUP) or a crash of the demo itself stop the simulator, the worker and the broker it
started, in that order, and leave nothing running — also when its output goes into a pipe that
is gone by then (``ccpulse demo | tee demo.log``, Ctrl-C kills ``tee`` too): the demo's lines
are also appended to ``<data_dir>/logs/demo.log``.

One demo per data directory (``<data_dir>/demo.lock``, see :mod:`streams.demo_lock`):
``ccpulse demo --stop`` stops the running one from any shell, ``--reset`` starts from empty
state. When the simulator ends the demo says so and keeps serving; when the broker goes away
it says so once and waits for it to come back; when the worker dies (killed, out of memory) it
starts it again on the same data directory, as a supervisor would, and says how long the
worker took to be back and how its engines were built.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import glob
import http.client
import io
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from streams.children import group_alive, is_ccpulse_command, start_child, stop_group
from streams.core.events import DEADLETTER_TOPIC
from streams.core.timestamps import format_us
from streams.demo_lock import DemoLock
from streams.errors import CcpulseError, describe
from streams.invocation import program
from streams.netcheck import ensure_port_free
from streams.settings import KafkaTarget, kafka_target, load_config
from streams.stop_signals import Stop, StopSignals, restore_signals, stop_on_signals
from streams.worker.allocator import worker_environment
from streams.worker.membership import MEMBER_FILE
from streams.worker.status import configured_log_level

READY_TIMEOUT_S = 120.0
STATUS_EVERY_S = 5.0
#: A worker that dies is started again at once, then after 2 and 4 s (a supervisor's back-off);
#: dying more than MAX_RESTARTS times within RESTART_WITHIN_S ends the demo (a crash that
#: repeats would restart for ever).
RESTART_WITHIN_S = 60.0
MAX_RESTARTS = 3
STOP_WAIT_S = 90.0
#: The simulator's scenario in the demo: understaffed somewhere, so amber and red show early.
DEMO_SCENARIO = "demo"

#: What the demo runs with when no config file is named (first-response targets set).
DEMO_CONFIG = Path(__file__).with_name("demo.toml")


class Console:
    """The demo's voice: ``[demo] …`` lines on stdout and in ``logs/demo.log``.

    Standard output may vanish under it — ``| tee`` killed by the same Ctrl-C, a terminal
    closed — so a failed write only switches it off; shutting down must not stop half-way
    because a message could not be shown.
    """

    def __init__(self, log: Path, out: TextIO | None = None) -> None:
        self._out: TextIO | None = out or sys.stdout
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("a", encoding="utf-8")

    def say(self, message: str) -> None:
        self.show(f"[demo] {message}")

    def show(self, text: str) -> None:
        self._log.write(text + "\n")
        self._log.flush()
        if self._out is None:
            return
        try:
            self._out.write(text + "\n")
            self._out.flush()
        except (OSError, ValueError):  # EPIPE, EIO after a hang-up, closed file
            self._out = None
            _silence_stdout()

    def close(self) -> None:
        self._log.close()


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so Python's exit-time flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


#: How the demo names itself to its worker: its reads of /metrics (every second while the
#: worker catches up, then every few) show in the worker's log as this client's
#: (``streams.worker.scrape_rhythm``).
USER_AGENT = "ccpulse-demo"


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, http.client.HTTPException):
        # not up, or gone while answering: a worker killed mid-response cuts its
        # /metrics short (IncompleteRead), which is no answer either, not the demo's failure
        return 0, b""


#: The demo waits at most this long for the simulator's fast replay of the last hour.
CATCH_UP_WAIT_S = 300.0
#: Newest event younger than this: the replay has caught up.
CAUGHT_UP_S = 60.0
#: How long the demo waits for a connector's first events before it prints the URLs anyway (a
#: followed log or a webhook receiver may be quiet for now).
FIRST_EVENTS_WAIT_S = 20.0


def _behind_seconds(metrics: bytes) -> float | None:
    """Seconds between now and the newest event time in an exposition (None: no event)."""
    newest = None
    for line in metrics.decode(errors="replace").splitlines():
        if line.startswith("cc_last_event_timestamp_seconds"):
            try:
                value = float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
            newest = value if newest is None else max(newest, value)
    return None if newest is None else max(0.0, time.time() - newest)


def _log_lines(log: Path, since: int = 0) -> list[str]:
    """The non-blank lines of ``log`` from byte ``since`` on (what one worker process wrote,
    when ``since`` is the log's size as it started); none if it cannot be read."""
    try:
        with log.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()]


def _last_line(log: Path, since: int = 0) -> str:
    lines = _log_lines(log, since)
    return lines[-1].strip()[:300] if lines else ""


def _last_matching(log: Path, text: str) -> str:
    """The part after ``ccpulse worker: `` of the last line of ``log`` holding ``text``."""
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if text in line]
    except OSError:
        return ""
    return lines[-1].partition("ccpulse worker: ")[2].strip()[:300] if lines else ""


def _last_problem(log: Path, since: int = 0) -> str:
    """The last ERROR or exception line of ``log`` from byte ``since`` on, else its last line
    (empty: the process wrote nothing, as one killed by a signal at once)."""
    lines = _log_lines(log, since)
    for line in reversed(lines):
        if "[ERROR]" in line or "Error" in line or "Traceback" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else ""


def _size(path: Path) -> int:
    """The size of ``path`` in bytes, 0 when it does not exist."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _holds_events(log_dir: Path, topic_prefix: str) -> bool:
    """Whether the demo broker's data directory ``log_dir`` holds events of a source topic (a
    non-empty log segment): an earlier demo fed it. A demo that failed before its simulator
    sent anything left a formatted broker and empty topics, and the next starts afresh."""
    from streams.worker.app import SOURCE_TOPICS

    for topic in SOURCE_TOPICS:
        for segment in log_dir.glob(f"{glob.escape(topic_prefix + topic)}-*/*.log"):
            with contextlib.suppress(OSError):
                if segment.stat().st_size > 0:
                    return True
    return False


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, since: int = 0, *,
                  pause: Callable[[float], None]) -> None:
    """Until ``url`` answers 200; :class:`CcpulseError` if ``proc`` exits first (with the
    last line it wrote to ``log``, from byte ``since`` on) or after :data:`READY_TIMEOUT_S`.
    ``pause(seconds)`` waits between two looks (the demo's :meth:`StopSignals.pause`)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CcpulseError(f"the worker exited with status {proc.returncode} before it was "
                               f"ready: {_last_line(log, since) or 'it wrote nothing'} (full "
                               f"log: {log})")
        if _get(url)[0] == 200:
            return
        pause(0.5)
    raise CcpulseError(f"the worker was not ready after {READY_TIMEOUT_S:.0f} s; see {log}")


def summary(metrics: bytes, events_before: float = 0.0) -> str:
    """A one-line floor summary from the exposition text.

    ``events_before``: the events earlier worker processes of this demo processed
    (``cc_events_total`` counts from a worker process's start, as a Prometheus counter does),
    added so that the count does not drop when the demo starts a dead worker again."""
    return floor_line(floor_numbers(metrics), events_before)


def floor_numbers(metrics: bytes) -> dict[str, float]:
    """From the exposition text: ``events`` (``cc_events_total`` summed), ``waiting`` now,
    and today's ``offered``, service level ``met`` and ``counted`` over every queue."""
    from prometheus_client.parser import text_string_to_metric_families

    numbers = dict.fromkeys(("waiting", "offered", "met", "counted", "events"), 0.0)
    for fam in text_string_to_metric_families(metrics.decode()):
        for s in fam.samples:
            today = s.labels.get("window") == "today"
            if s.name == "cc_queue_contacts_waiting":
                numbers["waiting"] += s.value
            elif s.name == "cc_window_contacts_offered" and today:
                numbers["offered"] += s.value
            elif s.name == "cc_window_contacts_service_level_met" and today:
                numbers["met"] += s.value
            elif s.name == "cc_window_contacts_service_level_counted" and today:
                numbers["counted"] += s.value
            elif s.name == "cc_events_total":
                numbers["events"] += s.value
    return numbers


def floor_line(numbers: dict[str, float], events_before: float = 0.0) -> str:
    """:func:`floor_numbers` as the demo's one line."""
    counted = numbers["counted"]
    # every queue's own policy, summed as the fleet-wide recording rule does (sum/sum)
    share = f"{numbers['met'] / counted:.0%}" if counted else "n/a"
    return (f"events processed {events_before + numbers['events']:,.0f} · waiting now "
            f"{numbers['waiting']:.0f} · offered today {numbers['offered']:,.0f} · service "
            f"level today {share}")


_summary = summary  # the earlier private name


def child_env(environ: Mapping[str, str], target: KafkaTarget,
              config_path: str | None,
              security: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the worker and simulator the demo starts: both get the same broker
    and topic prefix (resolved once, by the demo) and the same config file; with a secure
    broker, its ``security`` settings (``LocalBroker.client_environment``), which override
    the configured ones, as its address does."""
    env = {**environ, "CCPULSE_BROKER": target.broker,
           "CCPULSE_TOPIC_PREFIX": target.topic_prefix}
    if security:
        env.pop("CCPULSE_SASL_PASSWORD", None)  # it would win over the broker's password file
        env.update(security)
    if config_path:
        env["CCPULSE_CONFIG"] = str(Path(config_path).resolve())
    return env


# ---------------------------------------------------------------------------- the command


def _check_source(args: argparse.Namespace, config: Any) -> None:
    """``--source SYSTEM`` and the options after it, checked as ``ccpulse connect`` would
    before anything starts: a usage error exits 2 naming the option; a pull connector's
    settings and input (a missing file, a bad mapping) are one-line errors."""
    from streams.cli import build_parser
    from streams.sources.cli import SYSTEMS, check_input

    if args.source not in SYSTEMS:
        raise CcpulseError(f"--source {args.source!r} is not a system ccpulse connects to; "
                           f"choose one of {', '.join(SYSTEMS)}")
    extra = list(getattr(args, "source_args", []))
    if "--to" in extra or any(a.startswith("--to=") for a in extra):
        raise CcpulseError("the demo sends the connector's events to its own broker; drop "
                           "--to from the --source options")
    parsed = build_parser().parse_args(["connect", args.source, *extra])
    args.source_args = extra
    args.source_listen = getattr(parsed, "listen", None)
    module = parsed.connect_module
    if hasattr(module, "build"):
        # warnings (a mapping field a type lacks) are the connector's to print, in its log
        with contextlib.redirect_stderr(io.StringIO()):
            check_input(module.build(parsed, config))


def run_demo(args: argparse.Namespace) -> int:
    if args.config is None and not os.environ.get("CCPULSE_CONFIG"):
        args.config = str(DEMO_CONFIG)
        chose_demo_config = True
    else:
        chose_demo_config = False
    environ = dict(os.environ)
    if args.web_port is not None:
        environ["CCPULSE_WEB_PORT"] = str(args.web_port)
    config = load_config(args.config, environ)
    data = Path(config.deployment.data_dir).resolve()
    if args.stop:
        return stop_demo(data, print)
    # the worker would refuse it after the broker started: say so before anything starts
    configured_log_level(environ)
    if getattr(args, "source", None) is not None:
        _check_source(args, config)
    if config.deployment.web_config_file:
        # The demo watches its worker's /metrics, and a web config's basic auth holds only
        # bcrypt hashes: the demo could not log in. TLS and logins are for deployments.
        raise CcpulseError("the demo serves its worker over plain HTTP on "
                           f"{config.deployment.web_host}; drop web_config_file from [worker] "
                           "(or unset CCPULSE_WEB_CONFIG_FILE) for `ccpulse demo`")
    console = Console(data / "logs" / "demo.log")
    # A demo that does not stop or does not answer: `kill -USR1 <pid>` prints where each of its
    # threads is to its standard error (README, "Two commands"), without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        if chose_demo_config:
            console.say(f"using the demo configuration {DEMO_CONFIG} (defaults plus "
                        "first-response targets); --config FILE to use yours")
        return Demo(args, config, environ, data, console).run()
    finally:
        console.close()


def stop_demo(data: Path, say: Callable[[str], None]) -> int:
    """``ccpulse demo --stop``: SIGTERM the demo holding the lock and wait until it is gone;
    with no demo, stop the children a killed one left."""
    lock = DemoLock(data)
    if lock.held_elsewhere():
        pid = lock.read().get("pid")
        if not isinstance(pid, int):
            raise CcpulseError(f"a demo holds {lock.path} but its pid is not recorded there; "
                               "find it with `ps -ef | grep 'ccpulse demo'` and stop it")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        while lock.held_elsewhere():
            if time.monotonic() > deadline:
                raise CcpulseError(f"the demo (pid {pid}) is still stopping after "
                                   f"{STOP_WAIT_S:.0f} s; see {data / 'logs' / 'demo.log'}")
            time.sleep(0.2)
        say(f"stopped the demo (was pid {pid})")
        return 0
    previous = lock.acquire()
    try:
        left = _stop_leftovers(previous, data, say)
    finally:
        lock.release()
    if not left:
        say(f"no demo is running from {data}")
    return 0


def _stop_leftovers(previous: Mapping[str, Any], data: Path,
                    say: Callable[[str], None]) -> bool:
    """Stop what a demo killed without clean-up recorded as its own; True if anything was."""
    from streams.kafka.local_broker import LocalBroker

    stopped = False
    for name, pid in (previous.get("children") or {}).items():
        if isinstance(pid, int) and is_ccpulse_command(pid, name) and group_alive(pid):
            say(f"stopping the {name} (pid {pid}) a previous demo left running")
            stop_group(pid)
            stopped = True
    if previous.get("broker_started_by_demo"):
        broker = LocalBroker(state_dir=data / "kafka")
        pid = broker.stop()
        if pid:
            say(f"stopped the Kafka broker (pid {pid}) a previous demo left running")
            stopped = True
    return stopped


class Demo:
    """One run: start everything, watch it, stop everything."""

    def __init__(self, args: argparse.Namespace, config: Any, environ: dict[str, str],
                 data: Path, console: Console) -> None:
        from streams.kafka.local_broker import LocalBroker

        self.args = args
        self.config = config
        self.environ = environ
        self.data = data
        self.logs = data / "logs"
        self.console = console
        self.say = console.say
        self.lock = DemoLock(data)
        # A configuration that asks for TLS or SASL gets a secure demo broker too.
        secure = (getattr(args, "secure", False)
                  or config.deployment.security_protocol.upper() != "PLAINTEXT")
        self.broker = LocalBroker(
            state_dir=data / "kafka", port=args.broker_port,
            controller_port=args.controller_port, progress=self.say,
            port_options=("--broker-port", "--controller-port"), die_with_parent=True,
            secure=secure)
        self.broker_started = False
        self.worker: subprocess.Popen[bytes] | None = None
        #: ``cc_events_total`` of the running worker process at the last status line, and of
        #: the worker processes before it (the demo starts a dead worker again).
        self.events_seen = 0.0
        self.events_before = 0.0
        #: Where the running worker process's lines begin in logs/worker.log (the log is
        #: appended to by every worker process the demo starts).
        self.worker_log_from = 0
        self.simulator: subprocess.Popen[bytes] | None = None  # or the connector
        self.feed_name = "simulator"
        self.feed_failed = False
        #: The stop signals received (every wait of the demo goes through its pause).
        self.signals = StopSignals()

    def run(self) -> int:
        previous = self.lock.acquire()
        try:
            with stop_on_signals(self.signals):
                try:
                    _stop_leftovers(previous, self.data, self.say)
                    self._start_and_watch()
                except Stop as stop:
                    self.signals.cleaning_up = True  # a second Ctrl-C cannot cut it short
                    self.console.show("")
                    self.say(f"{'Ctrl-C' if stop.signum == signal.SIGINT else stop}: "
                             "shutting down")
                except BaseException as exc:
                    self.signals.cleaning_up = True
                    if not isinstance(exc, CcpulseError | KeyboardInterrupt):
                        self.say(f"the demo failed ({describe(exc)}); "
                                 "shutting down")
                    raise
                finally:
                    self.signals.cleaning_up = True
                    self._stop_all()
        finally:
            self.lock.release()
            restore_signals()
        return 1 if self.feed_failed else 0

    # -- start ---------------------------------------------------------------------------------

    def _start_and_watch(self) -> None:
        from streams.kafka.admin import ensure_topics
        from streams.worker.app import SOURCE_TOPICS

        d = self.config.deployment
        was_running = self.broker.status().running
        if self.args.reset:
            self._reset(running=was_running)
        # State of an earlier demo (topics and tables) is kept unless --reset: then the
        # simulator starts at now, so its history does not land on top of the earlier run's.
        continuing = _holds_events(self.broker.state_dir / "data",
                                   self.config.deployment.topic_prefix)
        if continuing:
            self.say("continuing the previous demo's state (its contacts still waiting when it "
                     "stopped stay waiting); `--reset` starts from empty state")
        ensure_port_free(d.web_host, d.web_port, "the worker's web port",
                         "--web-port or CCPULSE_WEB_PORT")
        self.say("starting the local Kafka broker")
        self.broker_started = not was_running
        self.lock.update(broker_started_by_demo=self.broker_started)
        self.broker.start()
        self.signals.check()  # a Ctrl-C swallowed while the broker's process forked
        # The demo's own broker wins over any configured one; the prefix is the configured one.
        target = kafka_target(self.config, broker=self.broker.bootstrap)._replace(
            security=self.broker.client_security)
        topics = [target.topic_prefix + t for t in (*SOURCE_TOPICS, DEADLETTER_TOPIC)]
        ensure_topics(target.broker, topics, d.partitions, security=target.security)
        self.signals.check()
        self.say(f"topics ready: {', '.join(topics)}")

        env = child_env(self.environ, target, self.args.config,
                        self.broker.client_environment())
        # This very interpreter and package, whatever PATH holds or however we were started.
        exe = [sys.executable, "-m", "streams.cli"]
        worker_log = self.logs / "worker.log"
        base = f"http://{d.web_host}:{d.web_port}"
        # the worker's glibc malloc settings (streams.worker.allocator), not the simulator's
        worker_env = worker_environment(env)
        self.worker_command = ([*exe, "worker"], worker_env)
        self.worker_log_from = _size(worker_log)  # where this worker's lines begin
        self.worker = start_child([*exe, "worker"], worker_env, worker_log)
        #: When the demo started a dead worker again, within the last RESTART_WITHIN_S.
        self.restarts: list[float] = []
        self.lock.update(children={"worker": self.worker.pid}, wallboard=base + "/wallboard")
        self.say("starting the worker (it recovers its tables before it is ready)")
        _wait_healthy(base + "/healthz", self.worker, worker_log, self.worker_log_from,
                      pause=self.signals.pause)

        if self.args.source is not None:
            sim_log = self.logs / "connect.log"
            self.feed_name = f"{self.args.source} connector"
            self.simulator = start_child(self.connect_command(exe), env, sim_log)
            self.lock.update(children={"worker": self.worker.pid,
                                       "connect": self.simulator.pid})
            from streams.sources.cli import pulls

            if pulls(self.args.source):
                self.say(f"{self.feed_name} sending events (its progress: {sim_log})")
                self._wait_first_events(base, sim_log)
            else:
                self.say(f"{self.feed_name} listening (see {sim_log}); the numbers move as "
                         "the system sends")
            self._show_urls(base, target)
            self._watch(base, sim_log)
            return
        sim_log = self.logs / "simulator.log"
        simulate = [*exe, "simulate", "--speed", f"{self.args.speed:g}", "--scenario",
                    DEMO_SCENARIO]
        if continuing:
            simulate += ["--start", format_us(time.time_ns() // 1000)]
        self.simulator = start_child(simulate, env, sim_log)
        self.lock.update(children={"worker": self.worker.pid, "simulate": self.simulator.pid})
        if continuing:
            self.say("simulator running in real time from now (one queue is understaffed, so "
                     "amber and red show within minutes)")
        else:
            self.say(f"simulator replaying the last hour at {self.args.speed:g}× real time, "
                     "then live (one queue is understaffed, so amber and red show early)")
            self._wait_caught_up(base, sim_log)
        self._show_urls(base, target)
        self._watch(base, sim_log)

    def _restart_worker(self, base: str, worker_log: Path) -> None:
        """The worker died (killed, out of memory, a crash): start it again on the same data
        directory, as a supervisor (Kubernetes, systemd, compose's ``restart:``) would: at once,
        then after 2 and 4 s if it dies again (before it is ready too). Its engines come back
        from their snapshots and the records changed since; it says so. Dying more than
        :data:`MAX_RESTARTS` times within :data:`RESTART_WITHIN_S` ends the demo."""
        assert self.worker is not None
        while True:
            status = self.worker.returncode
            how = (f"killed by {signal.Signals(-status).name}"
                   if status is not None and status < 0 else f"status {status}")
            now = time.monotonic()
            self.restarts = [t for t in self.restarts if now - t < RESTART_WITHIN_S]
            if len(self.restarts) >= MAX_RESTARTS:
                raise CcpulseError(
                    f"the worker stopped again ({how}), {MAX_RESTARTS + 1} times within "
                    f"{RESTART_WITHIN_S:.0f} s: "
                    f"{_last_problem(worker_log, self.worker_log_from) or 'it wrote nothing'} "
                    f"(full log: {worker_log})")
            if self.restarts:
                delay = 2.0 ** len(self.restarts)
                self.say(f"the worker stopped again ({how}); starting it again in {delay:g} s "
                         f"(restart {len(self.restarts) + 1} of at most {MAX_RESTARTS} within "
                         f"{RESTART_WITHIN_S:.0f} s; its log: {worker_log})")
                self.signals.pause(delay)
            else:
                self.say(f"the worker stopped ({how}); starting it again on its data directory "
                         f"(its log: {worker_log})")
            command, env = self.worker_command
            self.events_before += self.events_seen  # the new process counts from 0
            self.events_seen = 0.0
            self.worker_log_from = _size(worker_log)
            self.worker = start_child(command, env, worker_log)
            self.restarts.append(time.monotonic())
            children = {"worker": self.worker.pid}
            if self.simulator is not None:
                children["connect" if self.args.source is not None else "simulate"] = \
                    self.simulator.pid
            self.lock.update(children=children)
            started = time.monotonic()
            try:
                _wait_healthy(base + "/healthz", self.worker, worker_log, self.worker_log_from,
                              pause=self.signals.pause)
            except CcpulseError:
                if self.worker.poll() is None:
                    raise  # alive but not ready in time: not a crash to restart
                continue  # died again before it was ready
            built = _last_matching(worker_log, "engines built in")
            self.say(f"the worker is back, ready {time.monotonic() - started:.1f} s after it "
                     f"was started again (the demo looks for a stopped worker every "
                     f"{STATUS_EVERY_S:g} s)" + (f": {built}" if built else ""))
            return

    def _restart_if_dead(self, base: str) -> None:
        """Start the worker again if it died (also while the demo waits for it to catch up)."""
        assert self.worker is not None
        if self.worker.poll() is not None:
            self._restart_worker(base, self.logs / "worker.log")

    def connect_command(self, exe: list[str]) -> list[str]:
        """``ccpulse connect SYSTEM <its options>`` into the demo's broker, checkpoints in the
        demo's data directory (so ``--reset`` forgets them too)."""
        from streams.sources.cli import pulls

        command = [*exe, "connect", self.args.source, *self.args.source_args]
        if pulls(self.args.source):
            command += ["--checkpoint-dir", str(self.data / "connect")]
        return command

    def _wait_first_events(self, base: str, log: Path) -> None:
        """Until the worker has applied an event, or the connector stopped (its last lines
        then say why), or :data:`FIRST_EVENTS_WAIT_S` is over (a source quiet for now)."""
        deadline = time.monotonic() + FIRST_EVENTS_WAIT_S
        while time.monotonic() < deadline:
            self._restart_if_dead(base)
            if _behind_seconds(_get(base + "/metrics")[1]) is not None:
                return
            if self.simulator is None or self.simulator.poll() is not None:
                return
            self.signals.pause(1.0)

    def _show_urls(self, base: str, target: KafkaTarget) -> None:
        self.console.show(
            "\n  Wallboard (browser):     " + base + "/wallboard"
            + "\n  What-if staffing:        " + base + "/staffing"
            + "\n  KPIs (Prometheus text):  " + base + "/metrics"
            + "\n  Ready (JSON, reasons):   " + base + "/readyz"
            + (f"\n  Webhooks (POST):         http://{self.args.source_listen}/zendesk, "
               f"/chatwoot" if getattr(self.args, "source_listen", None) else "")
            + f"\n  Kafka bootstrap:         {target.broker}"
            + (f" ({target.security.describe()}, CA {target.security.cafile})"
               if target.security.uses_tls else "")
            + f"\n  Logs:                    {self.logs}/"
            + "\n\n  Press Ctrl-C to stop everything (or `" + program() + " demo --stop` from "
              "another shell).\n")

    def _reset(self, *, running: bool) -> None:
        if running:
            raise CcpulseError(
                f"--reset needs the local broker of {self.broker.state_dir} stopped, and it "
                f"runs (started outside the demo); stop it with `ccpulse kafka stop "
                f"--state-dir {self.broker.state_dir}` and run the demo again")
        for path in (self.broker.state_dir / "data", self.broker.state_dir / "cluster.id",
                     self.data / "v1", self.data / "connect", self.data / MEMBER_FILE):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        self.say(f"reset: the broker's topics and the worker's tables in {self.data} are "
                 "gone; starting from empty state")

    def _wait_caught_up(self, base: str, sim_log: Path) -> None:
        """Print the URLs only once the worker's newest event is recent: during the fast replay
        of the last hour the wallboard would rightly say its data is old."""
        deadline = time.monotonic() + CATCH_UP_WAIT_S
        said = 0.0
        while time.monotonic() < deadline:
            self._restart_if_dead(base)
            if self.simulator is None or self.simulator.poll() is not None:
                return
            behind = _behind_seconds(_get(base + "/metrics")[1])
            if behind is not None and behind < CAUGHT_UP_S:
                self.say("caught up: the wallboard is live")
                return
            if behind is not None and time.monotonic() - said >= 10:
                self.say(f"catching up: the newest event is {behind / 60:.0f} min old")
                said = time.monotonic()
            self.signals.pause(1.0)

    # -- watch ---------------------------------------------------------------------------------

    def _watch(self, base: str, sim_log: Path) -> None:
        broker_up = True
        last = ""
        while True:
            self.signals.pause(STATUS_EVERY_S)
            self._restart_if_dead(base)
            if self.simulator is not None and self.simulator.poll() is not None:
                # a connector that stopped on an error (a bad input) fails the demo's exit
                self.feed_failed = self.args.source is not None and \
                    (self.simulator.returncode or 0) > 0
                self.say(f"the {self.feed_name} ended (status {self.simulator.returncode}): "
                         f"{_last_line(sim_log)} (see {sim_log}); the worker keeps serving "
                         "the KPIs — Ctrl-C to stop")
                self.simulator = None
            up = self.broker.status().running
            if broker_up and not up:
                self.say(f"the Kafka broker stopped (its log: {self.broker.log_path}); the "
                         "worker and the simulator wait for it. Start it again with `ccpulse "
                         f"kafka start --port {self.broker.port} --controller-port "
                         f"{self.broker.controller_port} --state-dir {self.broker.state_dir}`, "
                         "or press Ctrl-C")
            elif up and not broker_up:
                self.say("the Kafka broker is back")
            broker_up = up
            if not up:
                continue
            status, body = _get(base + "/metrics")
            if status == 200:
                numbers = floor_numbers(body)
                self.events_seen = numbers["events"]
                line = floor_line(numbers, self.events_before)
                if line != last:
                    self.say(line)
                    last = line

    # -- stop ----------------------------------------------------------------------------------

    def _stop_all(self) -> None:
        for name, proc in ((self.feed_name, self.simulator), ("worker", self.worker)):
            if proc is not None and group_alive(proc.pid, proc):
                self.say(f"stopping the {name}")
                stop_group(proc.pid, proc=proc)
        if self.broker_started and self.broker.status().running:
            self.say("stopping the Kafka broker")
            self.broker.stop()
        self.say("all stopped")
