"""A worker restarted after a crash takes its partitions back at once.

A consumer group moves a member's partitions only when the member leaves (a clean stop sends
LeaveGroup) or its session times out. A worker that crashed (SIGKILL, OOM, a node lost) never
left, so when it came back with its data directory the group waited up to
``broker_session_timeout`` (10 s) for the dead member before it assigned anything: most of a
crash restart's time, with the engines themselves restored in under a second.

The worker keeps its group member id in its data directory (``group-member.json``, rewritten
at every assignment) and holds the directory with ``flock`` (``worker.lock``) while it runs.
At start, holding the lock proves the recorded member is dead — no other process can be using
the directory — so the worker asks the group's coordinator to remove it (a LeaveGroup on its
behalf, what the dead process would have sent at a clean stop). The group rebalances at once.
After a clean stop the member already left and the coordinator answers that it does not know
it; nothing happens. If the request fails, the worker waits for the session as before.

Kafka's own answer, static membership (``group.instance.id``, KIP-345), was tried and not
kept: the coordinator hands a static member the assignment computed for its previous
incarnation without a rebalance, and Faust's assignor refuses one made for another web URL
(``assert metadata.url == ...``: the coordinator routine dies and the worker never becomes
ready); and a static member does not leave at a clean stop, so a worker stopped for good
would hold its partitions for the session timeout. ``docs/decisions.md`` has the reasoning.
"""

from __future__ import annotations

import atexit
import fcntl
import os
from pathlib import Path
from typing import IO

import orjson

from streams.errors import ConfigError

#: File in the data directory naming the group and the member id of the worker using it.
MEMBER_FILE = "group-member.json"
#: File in the data directory a running worker holds with ``flock``.
LOCK_FILE = "worker.lock"


def hold_data_dir(data_dir: str | Path) -> IO[bytes]:
    """Take ``<data_dir>/worker.lock`` with ``flock`` for the life of the process.

    Returns the open file (keep a reference: closing it releases the lock; the kernel releases
    it when the process dies, however it dies). Creates the directory if needed. Raises
    :class:`~streams.errors.ConfigError` when another process holds it: two workers on one data
    directory would share a RocksDB store.
    """
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    handle = open(path, "a+b")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().decode(errors="replace").strip() or "another process"
        handle.close()
        raise ConfigError(
            f"another ccpulse worker (pid {holder}) is using the data directory {directory}; "
            "stop it, or give this worker its own data_dir (CCPULSE_DATA_DIR)") from None
    handle.truncate(0)
    handle.write(str(os.getpid()).encode())
    handle.flush()
    atexit.register(_let_go, handle)
    return handle


def _let_go(handle: IO[bytes]) -> None:
    """At a clean exit, take this process's pid out of the lock file it still holds (a
    crash leaves it: only the "another worker is using" message reads it, while the lock is
    held)."""
    try:
        if not handle.closed:
            handle.truncate(0)
            handle.close()
    except OSError:
        pass


def remember_member(data_dir: str | Path, group: str, member_id: str) -> None:
    """Record that the worker using ``data_dir`` is ``member_id`` of consumer group ``group``.

    Written atomically (a temporary file renamed over the old one); a no-op when ``member_id``
    is empty (not yet joined).
    """
    if not member_id:
        return
    path = Path(data_dir) / MEMBER_FILE
    temporary = path.with_name(f".{MEMBER_FILE}.{os.getpid()}")
    temporary.write_bytes(orjson.dumps({"group": group, "member_id": member_id}))
    os.replace(temporary, path)


def previous_member(data_dir: str | Path, group: str) -> str | None:
    """The member id the last worker on ``data_dir`` had in ``group``, or None.

    None when no worker recorded one, when it was in another group (the app id changed), or
    when the file is not what :func:`remember_member` writes (it is then ignored: the worst
    outcome is the wait for the session this module exists to avoid).
    """
    try:
        recorded = orjson.loads((Path(data_dir) / MEMBER_FILE).read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    if not isinstance(recorded, dict) or recorded.get("group") != group:
        return None
    member_id = recorded.get("member_id")
    return member_id if isinstance(member_id, str) and member_id else None
