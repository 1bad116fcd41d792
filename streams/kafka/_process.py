"""Recognising and ending the broker process from its pid file alone.

``ccpulse kafka stop`` runs in a different process than the ``start`` that launched the broker,
so everything here works from a pid. A pid is only trusted when ``/proc/<pid>/cmdline`` still
names ``kafka.Kafka`` and this broker's ``server.properties``: pids are reused, and stopping
must never signal an unrelated process. A zombie (exited, not yet reaped — common when PID 1 of
a container does not reap) counts as stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

_POLL_S = 0.1


def read_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file``, or None when there is no file or no number in it."""
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def is_broker_process(pid: int, config_file: Path) -> bool:
    """Whether ``pid`` is a live Kafka broker started with ``config_file``."""
    proc = Path("/proc", str(pid))
    if not Path("/proc/self").exists():  # no procfs: the best we can do is "pid exists"
        return _pid_exists(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rpartition(")")[2].split()[0]  # the field after "(comm)"
    if state in ("Z", "X"):
        return False
    args = {arg.decode(errors="replace") for arg in cmdline}
    return "kafka.Kafka" in args and str(config_file) in args


def terminate(pid: int, config_file: Path, timeout_s: float) -> bool:
    """SIGTERM (Kafka's controlled shutdown), then SIGKILL after ``timeout_s``.

    Returns whether the process is gone.
    """
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, config_file, timeout_s):
        return True
    _signal(pid, signal.SIGKILL)
    return _wait_gone(pid, config_file, 10.0)


def _wait_gone(pid: int, config_file: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while is_broker_process(pid, config_file):
        if time.monotonic() >= deadline:
            return False
        _reap(pid)
        time.sleep(_POLL_S)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collect the exit status if the broker is our own child (started in this process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux for SIGTERM when the starting process dies
    (``PR_SET_PDEATHSIG``), so a child outlives no crash of its starter; None where there is
    no ``prctl``. libc is loaded here, in the parent: the hook runs between fork and exec."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


_PR_SET_PDEATHSIG = 1


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
