"""Hints name the program the way the user can run it again (``streams.invocation``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from streams.cli import main
from streams.invocation import as_run_here, program


def script(directory: Path) -> Path:
    path = directory / "ccpulse"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_a_script_not_on_path_is_named_by_its_path_below_the_working_directory(
        tmp_path: Path, monkeypatch):
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    path = script(bin_dir)
    monkeypatch.chdir(tmp_path)
    assert program(str(path), search_path="/nonexistent") == ".venv/bin/ccpulse"
    assert program(".venv/bin/ccpulse", search_path="/nonexistent") == ".venv/bin/ccpulse"


def test_a_script_outside_the_working_directory_is_named_by_its_absolute_path(
        tmp_path: Path, monkeypatch):
    path = script(tmp_path)
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert program(str(path), search_path="/nonexistent") == str(path)


def test_the_script_path_finds_is_named_ccpulse(tmp_path: Path):
    path = script(tmp_path)
    assert program(str(path), search_path=str(tmp_path)) == "ccpulse"
    assert program(str(path), search_path=os.pathsep.join(["/nonexistent", str(tmp_path)])) \
        == "ccpulse"


def test_python_dash_m_is_named_ccpulse():
    assert program("/repo/streams/cli.py", search_path="/nonexistent") == "ccpulse"


def test_an_error_line_names_the_commands_it_suggests_as_the_user_ran_this_one(
        tmp_path: Path, monkeypatch, capsys):
    # `make demo` runs .venv/bin/ccpulse, not on PATH: a hint saying `ccpulse worker` would
    # answer "command not found".
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script(bin_dir))])
    monkeypatch.setenv("PATH", "/nonexistent")
    assert as_run_here("start one with `ccpulse worker`, or `ccpulse kafka start`") == (
        "start one with `.venv/bin/ccpulse worker`, or `.venv/bin/ccpulse kafka start`")
    code = main(["staffing", "--queue", "sales", "--agents", "3", "--url",
                 "http://127.0.0.1:9"])
    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("Error: cannot reach a worker at http://127.0.0.1:9")
    assert "`.venv/bin/ccpulse worker`" in error


def test_with_ccpulse_on_path_an_error_line_is_left_as_written(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(script(tmp_path))])
    monkeypatch.setenv("PATH", str(tmp_path))
    assert as_run_here("run `ccpulse kafka start`") == "run `ccpulse kafka start`"
