"""Hints name the program the way the user can run it again (``streams.invocation``)."""

from __future__ import annotations

import os
from pathlib import Path

from streams.invocation import program


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
