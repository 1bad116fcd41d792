"""The demo's lock file: one demo per data directory, and what a later command needs to know.

``<data_dir>/demo.lock`` is held with ``flock`` for as long as a demo runs (the kernel drops
the lock when the demo dies, however it dies) and holds a JSON record: the demo's pid, its
URLs, and the pids of the worker and simulator it started. A second demo finds the lock held
and says how to stop the first; ``ccpulse demo --stop`` signals the holder; a demo that finds
the lock free but a record of children still alive (its predecessor was killed with SIGKILL)
stops them before it starts.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

from streams.errors import DemoRunningError

LOCK_NAME = "demo.lock"
#: How long :meth:`DemoLock.read` reads again a record caught half-rewritten.
READ_RETRY_S = 1.0


class DemoLock:
    """The lock file of one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._handle: TextIO | None = None
        self.record: dict[str, Any] = {}

    def read(self) -> dict[str, Any]:
        """The record last written (empty when there is none or it is unreadable).

        The demo rewrites the record in place (it must keep the locked file), so a read can
        fall between its truncate and its write: an empty or partial record while another
        process holds the lock is read again, for up to :data:`READ_RETRY_S`."""
        deadline = time.monotonic() + READ_RETRY_S
        while True:
            try:
                text = self.path.read_text()
            except OSError:
                return {}
            if text.strip():
                try:
                    record = json.loads(text)
                    return record if isinstance(record, dict) else {}
                except ValueError:
                    pass
            if time.monotonic() >= deadline or not self.held_elsewhere():
                return {}
            time.sleep(0.01)

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock right now."""
        if self._handle is not None:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(probe, fcntl.LOCK_UN)
            return False

    def acquire(self) -> dict[str, Any]:
        """Take the lock or raise :class:`DemoRunningError` naming the running demo; return the
        previous record (children a killed demo may have left)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")  # the fd is not inherited by children (PEP 446)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            other = self.read()
            where = f"pid {other.get('pid', '?')}"
            if other.get("wallboard"):
                where += f", wallboard {other['wallboard']}"
            raise DemoRunningError(
                f"a demo is already running from {self.path.parent} ({where}); stop it with "
                "`ccpulse demo --stop`, or give this one its own CCPULSE_DATA_DIR, "
                "--web-port, --broker-port and --controller-port") from None
        self._handle = handle
        previous = self.read()
        self.update(pid=os.getpid(), children={})
        return previous

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the record and rewrite the file (the lock must be held)."""
        assert self._handle is not None, "update() needs the lock"
        self.record.update(fields)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(self.record, sort_keys=True) + "\n")
        self._handle.flush()

    def release(self) -> None:
        """Empty the record and drop the lock."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.seek(0)
            self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
