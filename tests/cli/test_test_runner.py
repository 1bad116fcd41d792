"""``tests/run.sh``, the README's test command's runner: on a clone whose test environment is
not set up (``make demo`` installs neither ruff nor pytest), it says what to run, instead of
blaming ruff for problems it never looked for."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

RUN_SH = Path(__file__).parents[1] / "run.sh"


def test_without_a_test_environment_the_runner_names_the_set_up_command(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    shutil.copy(RUN_SH, tmp_path / "tests" / "run.sh")
    done = subprocess.run(["bash", "tests/run.sh", "-m", "faults"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "the test environment is not set up" in done.stdout
    assert "make setup-test" in done.stdout
    assert "ruff found problems" not in done.stdout
