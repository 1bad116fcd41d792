"""The demo's lock file (``streams.demo_lock``): one demo per data directory, and a record
that another command (``ccpulse demo --stop``, a second demo) reads while the demo rewrites it;
and whether a demo continues an earlier one's state."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from streams.demo import _holds_events, _last_problem, _size
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


def test_a_demo_continues_only_a_broker_whose_source_topics_hold_events(tmp_path: Path):
    """A first demo that failed before its simulator sent anything leaves a formatted broker
    with empty topics: the next one starts afresh (the replayed hour), not "continuing"."""
    logs = tmp_path / "kafka" / "data"
    for name in ("cc.calls-0", "cc.calls-1", "__consumer_offsets-0"):
        (logs / name).mkdir(parents=True)
        (logs / name / "00000000000000000000.log").write_bytes(b"")
    (logs / "__consumer_offsets-0" / "00000000000000000000.log").write_bytes(b"x" * 100)
    assert not _holds_events(logs, "")
    (logs / "cc.calls-1" / "00000000000000000000.log").write_bytes(b"x" * 100)
    assert _holds_events(logs, "")
    assert not _holds_events(logs, "site1.")  # another prefix's topics
    assert not _holds_events(tmp_path / "nothing", "")


def test_what_a_worker_process_wrote_is_read_from_where_it_began(tmp_path: Path):
    """The demo quotes the dying worker's own last problem, not an earlier process's line."""
    log = tmp_path / "worker.log"
    log.write_text("[ERROR] an earlier worker's trouble\n")
    since = _size(log)
    assert _last_problem(log, since) == ""  # killed at once: it wrote nothing
    with log.open("a") as f:
        f.write("[INFO] ccpulse worker: metrics on http://127.0.0.1:6066/metrics\n")
    assert _last_problem(log, since) == "[INFO] ccpulse worker: metrics on http://127.0.0.1:6066/metrics"
    assert _last_problem(log) == "[ERROR] an earlier worker's trouble"
    assert _size(tmp_path / "absent.log") == 0
