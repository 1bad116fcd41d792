"""The demo's lock file (``streams.demo_lock``): one demo per data directory, and a record
that another command (``ccpulse demo --stop``, a second demo) reads while the demo rewrites it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from streams.demo_lock import DemoLock
from streams.errors import DemoRunningError


def test_a_second_demo_is_refused_naming_the_first_and_its_wallboard(tmp_path: Path):
    first = DemoLock(tmp_path)
    first.acquire()
    first.update(wallboard="http://127.0.0.1:6066/wallboard")
    with pytest.raises(DemoRunningError, match=rf"^a demo is already running from {tmp_path} "
                                               rf"\(pid {os.getpid()}, wallboard http://"):
        DemoLock(tmp_path).acquire()
    first.release()
    assert DemoLock(tmp_path).read() == {}


def test_a_record_caught_between_truncate_and_write_is_read_again(tmp_path: Path):
    """The demo rewrites its record in place when it starts a worker again; ``--stop``
    reading at that moment must still find the demo's pid."""
    holder = DemoLock(tmp_path)
    holder.acquire()
    holder.update(children={"worker": 41})
    assert holder._handle is not None
    holder._handle.seek(0)
    holder._handle.truncate()  # what update() does first
    holder._handle.flush()
    writer = threading.Timer(0.2, holder.update, kwargs={"children": {"worker": 42}})
    writer.start()
    try:
        record = DemoLock(tmp_path).read()
    finally:
        writer.join()
        holder.release()
    assert record["pid"] == os.getpid()
    assert record["children"] == {"worker": 42}


def test_an_empty_record_that_nobody_holds_is_read_as_empty_at_once(tmp_path: Path):
    (tmp_path / "demo.lock").write_text("")
    assert DemoLock(tmp_path).read() == {}
    (tmp_path / "demo.lock").write_text('{"pid": 7')  # a demo killed mid-write
    assert DemoLock(tmp_path).read() == {}
