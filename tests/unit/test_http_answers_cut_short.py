"""A server that goes away in the middle of its answer (a worker killed while it sends its
``/metrics``, Prometheus restarted mid-query) is a one-line error, or no answer, to every HTTP
client of ccpulse, never an unhandled ``http.client`` error: the demo ended itself on an
``IncompleteRead`` when its worker was killed during the catch-up (a CI run, 2026-12-05)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from ports import free_port

from streams.demo import _get
from streams.errors import CcpulseError
from streams.report_sources import http_fetch
from streams.staffing_cli import fetch_live

#: Answers that end before they are whole: a body shorter than its length, a chunk cut off,
#: a status line that is no HTTP.
CUT_SHORT = {
    "body shorter than its length": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"a\": ",
    "chunk cut off": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n# HELP cc_",
    "no status line": b"\x00\x01garbage\r\n\r\n",
}


@contextmanager
def cut_short(answer: bytes) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that reads each request, sends ``answer`` and
    closes the connection."""
    port = free_port()
    server = socket.create_server(("127.0.0.1", port))
    server.settimeout(0.05)  # accept() wakes up to see ``stop``
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                _read_request(conn)
                conn.sendall(answer)
                # no RST (a reset, not the answer cut short, when the request was not all
                # read): the answer's end, then whatever the client still sends
                conn.shutdown(socket.SHUT_WR)
                try:
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


def _read_request(conn: socket.socket) -> None:
    """Read one HTTP request from ``conn``: its head, and its body by its Content-Length (a
    POST's body may come in a segment of its own)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        body += chunk


@pytest.mark.parametrize("answer", CUT_SHORT.values(), ids=CUT_SHORT.keys())
def test_the_demo_takes_an_answer_cut_short_as_no_answer(answer: bytes) -> None:
    with cut_short(answer) as url:
        assert _get(url + "/metrics") == (0, b"")


@pytest.mark.parametrize("answer", CUT_SHORT.values(), ids=CUT_SHORT.keys())
def test_the_staffing_command_says_the_worker_broke_off_its_answer(answer: bytes) -> None:
    with cut_short(answer) as url, pytest.raises(CcpulseError) as raised:
        fetch_live(url, "billing", None, 14)
    assert str(raised.value).startswith(f"the worker at {url} broke off its answer (")
    assert str(raised.value).endswith("; try again, or give both --rate and --aht to compute "
                                      "without a worker")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("answer", CUT_SHORT.values(), ids=CUT_SHORT.keys())
def test_the_report_says_prometheus_broke_off_its_answer(answer: bytes) -> None:
    with cut_short(answer) as url, pytest.raises(CcpulseError) as raised:
        http_fetch(url + "/api/v1/query", {"query": "up"})
    assert str(raised.value).startswith(
        f"Prometheus at {url}/api/v1/query broke off its answer (")
    assert "\n" not in str(raised.value)


def test_an_answer_without_a_status_line_is_unhealthy_in_one_line() -> None:
    """The health check reads only the status (a 200 cut short after it is healthy)."""
    with cut_short(CUT_SHORT["no status line"]) as url:
        port = url.rsplit(":", 1)[1]
        done = subprocess.run([sys.executable, "-m", "streams.worker.healthcheck"],
                              env={**os.environ, "CCPULSE_WEB_PORT": port, "CCPULSE_CONFIG": ""},
                              capture_output=True, timeout=30, check=False)
    assert done.returncode == 1
    line = done.stderr.decode()
    assert line.startswith("unhealthy: ") and line.count("\n") == 1, line
    assert line.startswith(f"unhealthy: {url}/healthz answered BadStatusLine("), line
