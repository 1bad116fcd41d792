"""A real Apache Kafka broker on this machine, for development, tests and the demo.

One JVM process, KRaft mode, broker and controller in one, run straight from the jars that
``deploy/kafka/pom.xml`` fetches from Maven Central (no tarball, no Docker). Everything it
writes lives in its state directory::

    <state_dir>/server.properties   written at every start from the constructor arguments
    <state_dir>/cluster.id          chosen at the first start, kept so restarts reuse the data
    <state_dir>/data/               topic data and the KRaft metadata log
    <state_dir>/logs/server.log     the broker's log (log4j2, INFO)
    <state_dir>/logs/kafka.out      the JVM's stdout/stderr: errors and crashes only
    <state_dir>/kafka.pid           the running broker, for ``status`` and ``stop`` from any shell

The broker runs in its own session, so it outlives the command that started it and a Ctrl-C in
that shell does not reach it; ``stop()`` ends it. ``start`` and ``stop`` are idempotent.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from streams.errors import BrokerError, PortInUseError, SetupError
from streams.kafka import _process
from streams.kafka._certs import write_ca_and_server_cert, write_private
from streams.kafka._jars import JarCache
from streams.kafka._lock import locked
from streams.kafka._server_config import (
    SecureListener,
    new_cluster_id,
    render_server_properties,
    scram_format_option,
)
from streams.kafka._tools import find_java, find_maven
from streams.kafka.admin import wait_until_ready
from streams.kafka.security import KafkaSecurity

_REPO = Path(__file__).resolve().parents[2]
KAFKA_DEPLOY_DIR = _REPO / "deploy" / "kafka"
DEFAULT_CACHE_DIR = _REPO / ".cache" / "kafka"
DEFAULT_STATE_DIR = Path(".ccpulse") / "kafka"
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 19093
"""Not Kafka's usual 9093: Alertmanager listens there."""
DEFAULT_HOST = "127.0.0.1"

DEFAULT_JVM_OPTIONS: tuple[str, ...] = (
    # A development broker on a 2-core machine: a small fixed-ish heap, G1 with short pauses
    # (Kafka's own defaults in kafka-run-class.sh), no GUI toolkit.
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)

SECURE_USERNAME = "ccpulse"
"""The SASL user of ``kafka start --secure``."""

_POLL_S = 0.2
_READY_PROBE_S = 3.0


class BrokerPortInUseError(PortInUseError, BrokerError):
    """A port the broker must listen on is taken (a broker error that names the option)."""


@dataclass(frozen=True)
class BrokerStatus:
    """What ``ccpulse kafka status`` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    log_path: Path


def _no_progress(message: str) -> None:
    """Default progress sink: library callers and tests want silence."""


class LocalBroker:
    """Fetch, start, inspect and stop the local single-node Kafka broker."""

    def __init__(
        self,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        cache_dir: Path | str = DEFAULT_CACHE_DIR,
        port: int = DEFAULT_PORT,
        controller_port: int = DEFAULT_CONTROLLER_PORT,
        host: str = DEFAULT_HOST,
        *,
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        env: Mapping[str, str] | None = None,
        progress: Callable[[str], None] = _no_progress,
        deploy_dir: Path = KAFKA_DEPLOY_DIR,
        port_options: tuple[str, str] = ("--port", "--controller-port"),
        die_with_parent: bool = False,
        secure: bool = False,
    ) -> None:
        """``env`` is where Java and Maven are looked up and what the JVM runs with (default:
        this process's environment); ``progress`` receives one-line messages for slow steps.
        ``port_options`` name the caller's options for the two ports in a port-in-use error.
        ``die_with_parent`` (the demo): the JVM gets SIGTERM when the process that started it
        dies, even by SIGKILL, so a crashed demo leaves no broker behind. ``secure``: the
        client listener is SASL_SSL (SCRAM-SHA-512 and PLAIN for the user ``ccpulse``) with a
        CA and certificate generated under ``<state_dir>/secure/`` (:attr:`client_security`
        is how to connect)."""
        if port == controller_port:
            raise BrokerError(
                f"the broker port and the controller port are both {port}; pick two different "
                "ports."
            )
        self.state_dir = Path(state_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.host = host
        self.jvm_options = tuple(jvm_options)
        self._env = dict(os.environ if env is None else env)
        self._progress = progress
        self._log4j_config = deploy_dir / "log4j2.properties"
        self._jars = JarCache(Path(cache_dir).resolve(), deploy_dir / "pom.xml")
        self._child: subprocess.Popen[bytes] | None = None
        self._port_options = port_options
        self._die_with_parent = die_with_parent
        self.secure = secure

    # -- paths ---------------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients (aiokafka's ``bootstrap_servers``)."""
        return f"{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / "server.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def _out_path(self) -> Path:
        return self.state_dir / "logs" / "kafka.out"

    @property
    def _data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def secure_dir(self) -> Path:
        """``--secure``: the CA clients trust (``ca.pem``), the broker's key and certificate
        (``broker.pem``) and the user's password (``client.password``)."""
        return self.state_dir / "secure"

    @property
    def ca_path(self) -> Path:
        return self.secure_dir / "ca.pem"

    @property
    def password_path(self) -> Path:
        return self.secure_dir / "client.password"

    @property
    def client_security(self) -> KafkaSecurity:
        """How a client reaches this broker: PLAINTEXT, or SASL_SSL with SCRAM-SHA-512 as the
        generated user (the password is read from :attr:`password_path`)."""
        if not self.secure:
            return KafkaSecurity()
        return KafkaSecurity(protocol="SASL_SSL", mechanism="SCRAM-SHA-512",
                             username=SECURE_USERNAME, password=self._secure_listener().password,
                             cafile=str(self.ca_path))

    def client_environment(self) -> dict[str, str]:
        """The ``CCPULSE_*`` security settings of a client of this broker (none when it is
        not secure): the password by its file, never by value."""
        if not self.secure:
            return {}
        return {"CCPULSE_SECURITY_PROTOCOL": "SASL_SSL",
                "CCPULSE_SASL_MECHANISM": "SCRAM-SHA-512",
                "CCPULSE_SASL_USERNAME": SECURE_USERNAME,
                "CCPULSE_SASL_PASSWORD_FILE": str(self.password_path),
                "CCPULSE_SSL_CAFILE": str(self.ca_path)}

    # -- public API ----------------------------------------------------------------------------

    def fetch(self) -> Path:
        """Make sure Java 17+ is here and the jars are cached; return the classpath directory.

        Idempotent and cheap once the jars are there (Maven is then not needed at all).
        """
        for needed in (self._jars.pom, self._log4j_config):
            if not needed.is_file():
                raise SetupError(
                    f"{needed} is missing: the local broker runs from a ccpulse source checkout "
                    "(installed with `pip install -e .`). Restore the file from git."
                )
        find_java(self._env)
        if not self._jars.is_complete():
            self._jars.fetch(find_maven(self._env), self._env, self._progress)
        return self._jars.lib_dir

    def status(self) -> BrokerStatus:
        """Whether this state directory's broker process is alive (not whether it is ready)."""
        pid = _process.read_pid(self.pid_path)
        running = pid is not None and _process.is_broker_process(pid, self.config_path)
        bootstrap = (self._running_bootstrap() if running else None) or self.bootstrap
        return BrokerStatus(running, pid if running else None, bootstrap, self.log_path)

    def _running_bootstrap(self) -> str | None:
        """``host:port`` the running broker advertises (its own server.properties), which
        is not this object's port when it was started with another ``--port``."""
        try:
            text = self.config_path.read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "advertised.listeners" and "://" in value:
                return value.strip().partition("://")[2].split(",")[0]
        return None

    def start(self, timeout_s: float = 60.0) -> BrokerStatus:
        """Start the broker and wait until it answers metadata requests.

        If it is already running it is only checked for health. The first start formats the
        storage; later starts reuse the data.
        """
        deadline = time.monotonic() + timeout_s
        with locked(self.state_dir / ".lock"):
            current = self.status()
            if current.running and current.pid is not None:
                self._check_same_config(current.pid)
                self._wait_ready(current.pid, deadline, timeout_s, started_here=False)
                return current
            self.pid_path.unlink(missing_ok=True)
            self._ensure_ports_free()
            lib_dir = self.fetch()
            java = find_java(self._env)
            self._write_config()
            self._format_storage_once(java, lib_dir)
            self._progress(f"Starting Kafka on {self.bootstrap} (state: {self.state_dir})...")
            pid = self._launch(java, lib_dir)
            try:
                self._wait_ready(pid, deadline, timeout_s, started_here=True)
            except BrokerError:
                _process.terminate(pid, self.config_path, timeout_s=10.0)
                self.pid_path.unlink(missing_ok=True)
                raise
            return self.status()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Stop the broker: SIGTERM for a clean shutdown, SIGKILL after ``timeout_s``.

        Returns the pid it stopped, or None if none was running.
        """
        with locked(self.state_dir / ".lock"):
            current = self.status()
            if not current.running or current.pid is None:
                self.pid_path.unlink(missing_ok=True)
                return None
            if not _process.terminate(current.pid, self.config_path, timeout_s):
                raise BrokerError(
                    f"Kafka (pid {current.pid}) survived SIGTERM and SIGKILL; check it with "
                    f"`ps -p {current.pid}` and end it by hand."
                )
            if self._child is not None:
                self._child.poll()
                self._child = None
            self.pid_path.unlink(missing_ok=True)
            return current.pid

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the broker's log and of its console output, for error reports."""
        parts = []
        for path in (self.log_path, self._out_path):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            if text:
                parts.append(f"--- {path} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts) if parts else "(the broker wrote no log)"

    # -- steps of start() ----------------------------------------------------------------------

    def _ensure_ports_free(self) -> None:
        for port, what in zip((self.port, self.controller_port), self._port_options,
                              strict=True):
            if _accepts(self.host, port):
                raise BrokerPortInUseError(
                    f"port {port} on {self.host} is already in use by another program (not the "
                    f"ccpulse broker of {self.state_dir}). Stop that program, or choose another "
                    f"port with {what}.", port=port, option=what
                )

    def _server_properties(self) -> str:
        return render_server_properties(
            host=self.host,
            port=self.port,
            controller_port=self.controller_port,
            data_dir=self._data_dir,
            secure=self._secure_listener() if self.secure else None,
        )

    def _secure_listener(self) -> SecureListener:
        """The secure listener's files, made on first use and kept (restarts reuse them)."""
        keystore = self.secure_dir / "broker.pem"
        if not self.password_path.is_file():
            write_private(self.password_path, (secrets.token_hex(16) + "\n").encode())
        if not (self.ca_path.is_file() and keystore.is_file()):
            self._progress(f"Generating a CA and the broker's TLS certificate in "
                           f"{self.secure_dir}")
            write_ca_and_server_cert(self.ca_path, keystore, _cert_hosts(self.host))
        return SecureListener(keystore=keystore, truststore=self.ca_path,
                              username=SECURE_USERNAME,
                              password=self.password_path.read_text().strip())

    def _write_config(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.secure:  # it holds the password: the owner's only
            write_private(self.config_path, self._server_properties().encode())
        else:
            self.config_path.write_text(self._server_properties())

    def _check_same_config(self, pid: int) -> None:
        """A running broker satisfies ``start`` only if it runs with the asked-for settings:
        otherwise the caller would wait on a port nobody listens on."""
        running = self.config_path.read_text()
        running_secure = "SASL_SSL://" in running
        if running_secure != self.secure:
            how = ("with --secure (SASL_SSL)" if running_secure
                   else "without --secure (PLAINTEXT)")
            use = ("add --secure to use it" if running_secure
                   else "leave out --secure to use it")
            raise BrokerError(
                f"Kafka (pid {pid}) is already running from {self.state_dir} {how}; {use}, "
                "or stop it with `ccpulse kafka stop` first to change how it listens"
            )
        if running != self._server_properties():
            raise BrokerError(
                f"Kafka (pid {pid}) is already running from {self.state_dir} with other "
                f"settings than asked for ({self.bootstrap}); see {self.config_path}. Stop it "
                "with `ccpulse kafka stop` first to change its ports."
            )

    def _cluster_id(self) -> str:
        path = self.state_dir / "cluster.id"
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        cluster_id = new_cluster_id()
        path.write_text(cluster_id + "\n")
        return cluster_id

    def _format_storage_once(self, java: Path, lib_dir: Path) -> None:
        """Format ``data/`` on the first start only: a formatted directory has meta.properties.

        ``--ignore-formatted`` keeps a repeat harmless should the check ever be wrong.
        """
        scram_marker = self.secure_dir / "scram-user-added"
        if (self._data_dir / "meta.properties").is_file():
            if self.secure and not scram_marker.is_file():
                raise BrokerError(
                    f"the Kafka storage in {self._data_dir} was formatted without --secure, "
                    "and KRaft adds SCRAM users only when it formats: start the secure broker "
                    f"with another --state-dir, or remove {self.state_dir} (its topics are "
                    "lost; `ccpulse demo --reset` for the demo's) and start again.")
            return
        cluster_id = self._cluster_id()
        self._progress(f"Formatting Kafka storage in {self._data_dir} (cluster id {cluster_id})")
        command = [
            str(java), *self._log_options(), "-cp", f"{lib_dir}/*",
            "kafka.tools.StorageTool", "format",
            "-t", cluster_id, "-c", str(self.config_path), "--ignore-formatted",
            *(scram_format_option(self._secure_listener()) if self.secure else []),
        ]  # fmt: skip
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self._env,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self._data_dir} failed (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()[-2000:]}\nIf the directory holds data "
                f"of another cluster, remove {self.state_dir} and start again."
            )
        if self.secure:
            scram_marker.write_text("SCRAM-SHA-512 user added when the storage was formatted\n")
        else:
            scram_marker.unlink(missing_ok=True)

    def _launch(self, java: Path, lib_dir: Path) -> int:
        command = [
            str(java), *self.jvm_options, *self._log_options(),
            "-cp", f"{lib_dir}/*", "kafka.Kafka", str(self.config_path),
        ]  # fmt: skip
        with self._out_path.open("ab") as out:
            self._child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.state_dir,
                env=self._env,
                start_new_session=True,
                preexec_fn=_process.die_with_parent_hook() if self._die_with_parent else None,
            )
        self.pid_path.write_text(f"{self._child.pid}\n")
        return self._child.pid

    def _log_options(self) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self._log4j_config}",
            f"-Dccpulse.kafka.log.file={self.log_path}",
        ]

    def _wait_ready(
        self, pid: int, deadline: float, timeout_s: float, *, started_here: bool
    ) -> None:
        """Poll until the port accepts and a metadata request succeeds, or fail with the log."""
        while True:
            # A child started here is alive while it has not exited: between fork and exec
            # (the die-with-parent hook runs there) its command line is still Python's, which
            # the command-line check read as "exited" on a loaded machine.
            if self._child is not None and self._child.pid == pid:
                alive = self._child.poll() is None
            else:
                alive = _process.is_broker_process(pid, self.config_path)
            if not alive:
                raise BrokerError(
                    f"Kafka (pid {pid}) exited before it was ready on {self.bootstrap}; its "
                    f"last output:\n{self.log_tail()}\nFix the cause above and run "
                    "`ccpulse kafka start` again."
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                advice = (
                    "It was stopped again."
                    if started_here
                    else "Stop it with `ccpulse kafka stop` and start it again."
                )
                raise BrokerError(
                    f"Kafka (pid {pid}) did not become ready on {self.bootstrap} within "
                    f"{timeout_s:g} s. {advice} Its last output:\n{self.log_tail()}"
                )
            if _accepts(self.host, self.port):
                try:
                    wait_until_ready(self.bootstrap, timeout_s=min(remaining, _READY_PROBE_S),
                                     security=self.client_security)
                except BrokerError:
                    pass
                else:
                    return
            time.sleep(_POLL_S)


def _cert_hosts(host: str) -> list[str]:
    """Names in the broker's certificate: its listen address, and the loopback names."""
    return list(dict.fromkeys([host, "localhost", "127.0.0.1"]))


def _accepts(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
