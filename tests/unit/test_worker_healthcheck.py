"""The image's health check (``python -m streams.worker.healthcheck``) without a worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ports import free_port


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "streams.worker.healthcheck"],
                          env={**os.environ, **env}, capture_output=True, timeout=30,
                          check=False)


def test_nothing_listening_is_unhealthy_in_one_line() -> None:
    port = free_port()
    done = healthcheck({"CCPULSE_WEB_PORT": str(port), "CCPULSE_CONFIG": ""})
    assert done.returncode == 1
    line = done.stderr.decode()
    assert line.startswith("unhealthy: ") and line.count("\n") == 1, line


def test_a_broken_web_config_is_unhealthy_and_says_which_file(tmp_path: Path) -> None:
    missing = tmp_path / "web.yml"
    done = healthcheck({"CCPULSE_WEB_CONFIG_FILE": str(missing), "CCPULSE_CONFIG": ""})
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"unhealthy: web config file {str(missing)!r} does not exist; check web_config_file "
        "(or CCPULSE_WEB_CONFIG_FILE, or --web-config-file)\n")
