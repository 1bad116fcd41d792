"""How fast a dead worker's partitions move on: the consumer group's session settings, and the
member a crashed worker leaves behind (removed by the next worker on its data directory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.core.config import parse_config
from streams.errors import ConfigError
from streams.worker.app import HEARTBEAT_INTERVAL_S, SESSION_TIMEOUT_S, build_pipeline
from streams.worker.membership import (
    MEMBER_FILE,
    hold_data_dir,
    previous_member,
    remember_member,
)


def test_a_silent_worker_loses_its_partitions_after_10_seconds_not_faust_s_60() -> None:
    conf = build_pipeline(parse_config({})).app.conf
    assert conf.broker_session_timeout == SESSION_TIMEOUT_S == 10.0
    assert conf.broker_heartbeat_interval == HEARTBEAT_INTERVAL_S == 3.0
    # Faust's own constraints: heartbeats well inside the session, requests outlive it
    assert conf.broker_heartbeat_interval * 3 <= conf.broker_session_timeout
    assert conf.broker_request_timeout >= conf.broker_session_timeout


# ------------------------------------------------- a crashed worker's member (membership.py)


def test_the_member_id_a_worker_records_is_read_back_for_its_own_group_only(
        tmp_path: Path) -> None:
    remember_member(tmp_path, "ccpulse", "faust-0.15.3-1234")
    assert previous_member(tmp_path, "ccpulse") == "faust-0.15.3-1234"
    assert previous_member(tmp_path, "another-app") is None  # the app id changed
    remember_member(tmp_path, "ccpulse", "faust-0.15.3-5678")  # a later assignment
    assert previous_member(tmp_path, "ccpulse") == "faust-0.15.3-5678"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MEMBER_FILE]  # no temporary left


def test_no_member_is_recorded_before_the_worker_joined(tmp_path: Path) -> None:
    remember_member(tmp_path, "ccpulse", "")
    assert previous_member(tmp_path, "ccpulse") is None
    assert not (tmp_path / MEMBER_FILE).exists()


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'{"group": "ccpulse"}',
                                     b'{"group": "ccpulse", "member_id": 7}'])
def test_a_damaged_member_file_is_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / MEMBER_FILE).write_bytes(content)
    assert previous_member(tmp_path, "ccpulse") is None


def test_a_second_worker_on_the_same_data_directory_is_refused_in_one_line(
        tmp_path: Path) -> None:
    data = tmp_path / "node"  # made if missing
    held = hold_data_dir(data)
    try:
        # flock belongs to the open file: a second open in this process is refused as another
        # process would be
        with pytest.raises(ConfigError) as refused:
            hold_data_dir(data)
        assert str(refused.value) == (
            f"another ccpulse worker (pid {os.getpid()}) is using the data directory {data}; "
            "stop it, or give this worker its own data_dir (CCPULSE_DATA_DIR)")
    finally:
        held.close()
    hold_data_dir(data).close()  # released with the file (and by the kernel at exit)


def test_a_clean_exit_leaves_no_pid_in_the_lock_file(tmp_path: Path) -> None:
    data = tmp_path / "node"
    code = ("import sys; from streams.worker.membership import hold_data_dir; "
            "hold_data_dir(sys.argv[1]); print(open(sys.argv[1] + '/worker.lock').read())")
    done = subprocess.run([sys.executable, "-c", code, str(data)], capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.strip().isdigit()  # held: its pid, for the refusal message
    assert (data / "worker.lock").read_text() == ""
