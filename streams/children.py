"""Child processes the demo starts and must never leave behind.

Each child leads a process group of its own in a new session: the terminal's Ctrl-C and
hang-up reach only the demo, which stops the children in order (simulator, worker, broker) and
signals each whole group, so whatever a child started goes too. Each child also asks Linux for
SIGTERM should the demo die without cleaning up (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from streams.kafka._process import die_with_parent_hook

STOP_TIMEOUT_S = 20.0
_POLL_S = 0.1


def start_child(command: Sequence[str], env: Mapping[str, str],
                log: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session and process group, output appended to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(list(command), env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent_hook())


def stop_group(pgid: int, timeout_s: float = STOP_TIMEOUT_S,
               proc: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM the process group ``pgid``, SIGKILL it after ``timeout_s``; True if it had any
    member. ``proc`` (our own child) is reaped so no zombie remains."""
    if not _signal_group(pgid, signal.SIGTERM):
        _reap(proc)
        return False
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid, proc):
        if time.monotonic() >= deadline:
            _signal_group(pgid, signal.SIGKILL)
            break
        time.sleep(_POLL_S)
    kill_deadline = time.monotonic() + 10.0
    while group_alive(pgid, proc) and time.monotonic() < kill_deadline:
        time.sleep(_POLL_S)
    return True


def group_alive(pgid: int, proc: subprocess.Popen[bytes] | None = None) -> bool:
    """Whether any process of group ``pgid`` is still alive (zombies excepted)."""
    _reap(proc)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(_live_in_group(pid, pgid) for pid in _pids())


def is_ccpulse_command(pid: int, word: str) -> bool:
    """Whether ``pid`` runs ``ccpulse <word>`` (a recorded pid may have been reused)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    names = [arg.decode(errors="replace") for arg in args]
    return word in names and any("ccpulse" in name or "streams.cli" in name for name in names)


def _signal_group(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def _reap(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None:
        proc.poll()


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _live_in_group(pid: int, pgid: int) -> bool:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return int(fields[2]) == pgid and fields[0] not in ("Z", "X")
    return False
