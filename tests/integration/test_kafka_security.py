"""ccpulse over SASL_SSL: a broker started like ``ccpulse kafka start --secure`` (a generated CA,
SCRAM-SHA-512 and PLAIN for the user ``ccpulse``) and the real commands against it.

``produce`` and ``simulate`` send over SCRAM-SHA-512 with the settings in ``CCPULSE_*``
variables, the worker reads them with the settings in its TOML ``[worker]`` table and a
password file, and its ``/metrics`` counts every event sent. PLAIN over TLS works too. A wrong
password, a CA that did not sign the broker's certificate and a security_protocol that does not
match the listener (PLAINTEXT, SASL_PLAINTEXT, SSL without a login) each end ``produce``,
``simulate`` and ``worker`` within seconds, with exit code 1 and one ``Error:`` line that names
the problem, instead of retrying (or waiting 30 s).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from worker_harness import WAIT_TIMEOUT_S, Worker, cli, free_port, wait_for

from streams.kafka import LocalBroker
from streams.kafka._certs import write_ca_and_server_cert

BROKER_TIMEOUT_S = 90.0
#: A refused login or an untrusted certificate must end a command within this (a JVM-free
#: client starts in about a second; the broker's verdict is immediate).
FAIL_FAST_S = 15.0

EVENT_FAMILIES = ("cc_events_total", "cc_events_duplicate_total", "cc_events_invalid_total",
                  "cc_events_late_total")


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    broker = LocalBroker(state_dir=tmp_path_factory.mktemp("kafka-secure"), port=free_port(),
                         controller_port=free_port(), secure=True)
    broker.start(timeout_s=BROKER_TIMEOUT_S)
    try:
        yield broker
    finally:
        broker.stop()


def client_env(broker: LocalBroker, prefix: str, **more: str) -> dict[str, str]:
    """The environment of a command: SASL_SSL with SCRAM-SHA-512 from ``CCPULSE_*``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CCPULSE_") or k == "CCPULSE_TEST_BROKER"}
    env.update(CCPULSE_BROKER=broker.bootstrap, CCPULSE_TOPIC_PREFIX=prefix,
               CCPULSE_SECURITY_PROTOCOL="SASL_SSL", CCPULSE_SASL_USERNAME="ccpulse",
               CCPULSE_SASL_PASSWORD_FILE=str(broker.password_path),
               CCPULSE_SSL_CAFILE=str(broker.ca_path))
    env.update(more)
    return env


def sent_count(output: bytes) -> int:
    """The count in ``sent N events`` of produce's stdout or simulate's stderr."""
    found = re.search(rb"sent ([\d,]+) events?", output)
    assert found, output.decode(errors="replace")
    return int(found.group(1).replace(b",", b""))


def events_seen(worker: Worker) -> float:
    return sum(v for (name, _), v in worker.metrics().items() if name in EVENT_FAMILIES)


def test_produce_simulate_and_worker_over_sasl_ssl_scram(secure_broker, unique_name, tmp_path):
    prefix = f"{unique_name}."
    events = tmp_path / "events.jsonl"
    assert cli("simulate", "--duration", "2m", "--seed", "11", "--out",
               str(events)).returncode == 0
    produced = cli("produce", str(events), env=client_env(secure_broker, prefix))
    assert produced.returncode == 0, produced.stderr.decode()
    simulated = cli("simulate", "--duration", "30s", "--speed", "300", "--seed", "12",
                    env=client_env(secure_broker, prefix))
    assert simulated.returncode == 0, simulated.stderr.decode()
    total = sent_count(produced.stdout) + sent_count(simulated.stderr)

    config = tmp_path / "ccpulse.toml"
    config.write_text(
        "[worker]\n"
        f'broker = "{secure_broker.bootstrap}"\n'
        'security_protocol = "SASL_SSL"\nsasl_mechanism = "SCRAM-SHA-512"\n'
        'sasl_username = "ccpulse"\n'
        f'sasl_password_file = "{secure_broker.password_path}"\n'
        f'ssl_cafile = "{secure_broker.ca_path}"\n')
    worker = Worker(secure_broker.bootstrap, unique_name, prefix, tmp_path / "worker",
                    free_port())
    worker.env = {k: v for k, v in worker.env.items()
                  if not k.startswith(("CCPULSE_SASL", "CCPULSE_SSL", "CCPULSE_SECURITY"))}
    worker.env.update(CCPULSE_CONFIG=str(config))
    del worker.env["CCPULSE_BROKER"]  # from the TOML file, like the security settings
    worker.start()
    try:
        wait_for(lambda: events_seen(worker) == total,
                 f"the worker to count all {total} events sent over SASL_SSL", worker)
    finally:
        worker.stop()
    assert secure_broker.password_path.read_text().strip() not in worker.log_tail(100_000)


def test_plain_over_tls_sends_too(secure_broker, unique_name, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text('{"type":"call.queued","call_id":"c1"}\n')
    done = cli("produce", str(events), env=client_env(
        secure_broker, f"{unique_name}.", CCPULSE_SASL_MECHANISM="PLAIN"))
    assert done.returncode == 0, done.stderr.decode()
    assert sent_count(done.stdout) == 1


def _fails_fast_with_one_line(command: list[str], env: dict[str, str], tmp_path: Path) -> str:
    started = time.monotonic()
    done = cli(*command, env=env, timeout=WAIT_TIMEOUT_S)
    elapsed = time.monotonic() - started
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1, (command, done.stderr.decode())
    assert elapsed < FAIL_FAST_S, f"{command[0]} took {elapsed:.1f} s to fail"
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr.decode()
    return lines[0]


COMMANDS = {
    "produce": lambda tmp: ["produce", str(tmp / "one.jsonl")],
    "simulate": lambda tmp: ["simulate", "--duration", "10s", "--speed", "100"],
    "worker": lambda tmp: ["worker"],
}


@pytest.fixture
def command_dir(tmp_path: Path, unique_name: str) -> Path:
    (tmp_path / "one.jsonl").write_text('{"type":"call.queued","call_id":"c1"}\n')
    return tmp_path


def _isolated(env: dict[str, str], tmp_path: Path, unique_name: str) -> dict[str, str]:
    """A worker of its own (port, data directory, app id) should it get that far."""
    return {**env, "CCPULSE_WEB_PORT": str(free_port()),
            "CCPULSE_DATA_DIR": str(tmp_path / "data"), "CCPULSE_APP_ID": unique_name}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_wrong_password_fails_fast(command, secure_broker, unique_name, command_dir):
    env = client_env(secure_broker, f"{unique_name}.", CCPULSE_SASL_PASSWORD="not-the-password")
    line = _fails_fast_with_one_line(COMMANDS[command](command_dir),
                                     _isolated(env, command_dir, unique_name), command_dir)
    assert line == (f"Error: Kafka at {secure_broker.bootstrap} refused the login of user "
                    "'ccpulse' (SCRAM-SHA-512): wrong username or password; check "
                    "CCPULSE_SASL_PASSWORD or the file in sasl_password_file")
    assert "not-the-password" not in line


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_untrusted_certificate_fails_fast(command, secure_broker, unique_name, command_dir):
    other_ca = command_dir / "other-ca.pem"
    write_ca_and_server_cert(other_ca, command_dir / "other-server.pem", ["127.0.0.1"])
    env = client_env(secure_broker, f"{unique_name}.", CCPULSE_SSL_CAFILE=str(other_ca))
    line = _fails_fast_with_one_line(COMMANDS[command](command_dir),
                                     _isolated(env, command_dir, unique_name), command_dir)
    assert line.startswith(f"Error: the TLS certificate of Kafka at {secure_broker.bootstrap} "
                           f"is not trusted by the CA in ssl_cafile '{other_ca}': ")
    assert line.endswith("set [worker] ssl_cafile (or CCPULSE_SSL_CAFILE) to the CA that "
                         "signed the broker's certificate")


#: Clients whose security_protocol does not match the secure broker's SASL_SSL listener: the
#: settings that replace client_env's security settings, and the start of the one line each
#: must get.
MISMATCHES: dict[str, tuple[Callable[[LocalBroker], dict[str, str]], str]] = {
    "plaintext": (lambda broker: {"CCPULSE_SECURITY_PROTOCOL": "PLAINTEXT"},
                  "closed the connection: its listener speaks TLS and security_protocol is "
                  "PLAINTEXT; set [worker] security_protocol (or CCPULSE_SECURITY_PROTOCOL) to "
                  "SSL, or SASL_SSL with a login,"),
    "sasl-plaintext": (lambda broker: {"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                       "CCPULSE_SASL_USERNAME": "ccpulse",
                                       "CCPULSE_SASL_PASSWORD_FILE": str(broker.password_path)},
                       "closed the connection: its listener speaks TLS and security_protocol "
                       "is SASL_PLAINTEXT; set [worker] security_protocol (or "
                       "CCPULSE_SECURITY_PROTOCOL) to SASL_SSL"),
    "ssl-without-login": (lambda broker: {"CCPULSE_SECURITY_PROTOCOL": "SSL",
                                          "CCPULSE_SSL_CAFILE": str(broker.ca_path)},
                          "closed the connection at the first request: its listener wants a "
                          "SASL login and security_protocol is SSL; set [worker] "
                          "security_protocol (or CCPULSE_SECURITY_PROTOCOL) to SASL_SSL"),
}


@pytest.mark.parametrize("mismatch", sorted(MISMATCHES))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_protocol_that_does_not_match_the_listener_fails_fast(
        command, mismatch, secure_broker, unique_name, command_dir):
    settings, expected = MISMATCHES[mismatch]
    env = {k: v for k, v in client_env(secure_broker, f"{unique_name}.").items()
           if not k.startswith(("CCPULSE_SASL", "CCPULSE_SSL", "CCPULSE_SECURITY"))}
    env.update(settings(secure_broker))
    line = _fails_fast_with_one_line(COMMANDS[command](command_dir),
                                     _isolated(env, command_dir, unique_name), command_dir)
    assert line.startswith(f"Error: Kafka at {secure_broker.bootstrap} {expected}"), line
