"""A ``CCPULSE_LOG_LEVEL`` that names no level is one line naming the choices, from the worker
and from the demo — the demo before it starts anything (it used to start the broker, then
fail on the worker's refusal, and its next run then skipped the replayed hour)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MESSAGE = ("Error: CCPULSE_LOG_LEVEL='verbose' is not a log level; use one of debug, info, "
           "warning, error, critical\n")


def run(command: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CCPULSE_LOG_LEVEL": "verbose", "CCPULSE_DATA_DIR": str(tmp_path),
           "CCPULSE_BROKER": "127.0.0.1:1"}
    env.pop("CCPULSE_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "streams.cli", command], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", ["worker", "demo"])
def test_a_log_level_that_is_no_level_is_one_line_before_anything_starts(command, tmp_path):
    result = run(command, tmp_path)
    assert result.returncode != 0
    assert result.stderr == MESSAGE
    assert not (tmp_path / "kafka").exists()  # the demo started no broker
