"""Which copy of the hot path runs (streams.compiled): never a compiled copy older than any
source of the package, and the compiled modules type-check exactly (mypyc compiles what mypy
accepts); what a build refuses to do without (streams.hot_path)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from streams import compiled, hot_path


def stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """Point the stamp at a file in ``tmp_path`` holding the current sources' digests, with
    ``changes`` applied; pretend every compiled module exists."""
    body: dict[str, object] = {
        "suffix": compiled.SUFFIX, "mypy": "1.13.0", "sources": compiled.source_digests()}
    body.update(changes)
    path = tmp_path / "hot__mypyc.json"
    path.write_bytes(orjson.dumps(body))
    monkeypatch.setattr(compiled, "STAMP", path)
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    monkeypatch.setattr(compiled, "compiled_path",
                        lambda module: compiled.source_path(module))  # exists
    monkeypatch.setattr(compiled, "group_path", lambda: compiled.STAMP)  # exists


def test_a_current_build_runs_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    stamp(tmp_path, monkeypatch)
    state = compiled.decide()
    assert state == compiled.State(True, "mypy 1.13.0")
    assert state.line() == (
        f"hot path: compiled with mypyc ({len(compiled.MODULES)} modules, mypy 1.13.0)")


def test_any_source_changed_since_the_build_runs_the_source(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    digests = compiled.source_digests()
    digests["streams/ingest.py"] = "0" * 64
    stamp(tmp_path, monkeypatch, sources=digests)
    assert compiled.decide() == compiled.State(
        False, "streams/ingest.py changed since the last build: "
        "run `python -m streams.hot_path build`")
    # not a compiled module: mypyc compiled in what they import (field positions, constants)
    digests = compiled.source_digests()
    digests["streams/core/events.py"] = "0" * 64
    digests["streams/core/gone.py"] = "0" * 64
    stamp(tmp_path, monkeypatch, sources=digests)
    assert compiled.decide() == compiled.State(
        False, "streams/core/events.py and 1 more changed since the last build: "
        "run `python -m streams.hot_path build`")


def test_a_build_for_another_python_runs_the_source(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    stamp(tmp_path, monkeypatch, suffix=".cpython-312-x86_64-linux-gnu.so")
    assert compiled.decide() == compiled.State(
        False, "built for another Python (.cpython-312-x86_64-linux-gnu.so): "
        "run `python -m streams.hot_path build`")


def test_no_build_and_the_opt_out_run_the_source(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    stamp(tmp_path, monkeypatch)
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert compiled.decide() == compiled.State(False, "CCPULSE_PURE_PYTHON is set")
    monkeypatch.delenv(compiled.PURE_ENV)
    monkeypatch.setattr(compiled, "STAMP", tmp_path / "absent.json")
    assert compiled.decide() == compiled.State(
        False, "not built: run `python -m streams.hot_path build`")
    assert compiled.decide().line() == (
        "hot path: Python source (not built: run `python -m streams.hot_path build`)")


def test_a_missing_compiled_module_or_library_runs_the_source(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    stamp(tmp_path, monkeypatch)
    monkeypatch.setattr(compiled, "group_path", lambda: tmp_path / "hot__mypyc.so")
    assert compiled.decide() == compiled.State(False, f"hot__mypyc.so missing: {compiled.BUILD}")
    stamp(tmp_path, monkeypatch)
    monkeypatch.setattr(compiled, "compiled_path", lambda module: tmp_path / "gone.so")
    assert compiled.decide() == compiled.State(False, f"gone.so missing: {compiled.BUILD}")


def test_the_opt_out_does_not_make_a_current_build_look_stale(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    stamp(tmp_path, monkeypatch)
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert not compiled.decide().compiled
    assert compiled.decide(honour_env=False).compiled  # `build` finds nothing to do


def test_a_build_without_a_c_compiler_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hot_path.shutil, "which", lambda name: None)
    with pytest.raises(hot_path.BuildError,
                       match=r"^no C compiler found: install gcc \(Debian: apt-get install gcc\)$"):
        hot_path.build(log=lambda line: None)


def test_a_build_without_pythons_headers_says_what_to_install(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hot_path.sysconfig, "get_paths", lambda: {"include": str(tmp_path)})
    with pytest.raises(hot_path.BuildError, match=r"^Python's headers are missing .*: install "
                       r"them \(Debian: apt-get install python3\.\d+-dev\)$"):
        hot_path.build(log=lambda line: None)


def test_the_finder_loads_each_hot_module_from_the_copy_chosen(monkeypatch: pytest.MonkeyPatch):
    finder = compiled._Finder()
    assert finder.find_spec("streams.core.ledger") is None  # not compiled: the usual finders
    monkeypatch.setattr(compiled, "_state", compiled.State(False, "test"))
    spec = finder.find_spec("streams.ingest")
    assert spec is not None and spec.origin == str(compiled.source_path("streams.ingest"))
    monkeypatch.setattr(compiled, "_state", compiled.State(True, "test"))
    spec = finder.find_spec("streams.ingest")
    assert spec is not None and spec.origin == str(compiled.compiled_path("streams.ingest"))
    assert spec.origin.endswith(compiled.SUFFIX)


@pytest.mark.skipif(shutil.which("mypy", path=str(Path(sys.executable).parent)) is None,
                    reason="mypy (the compile extra) is not installed")
def test_the_compiled_modules_type_check_exactly(tmp_path):
    root = compiled.PACKAGE_DIR.parent
    paths = [str(compiled.source_path(m).relative_to(root)) for m in compiled.MODULES]
    config = tmp_path / "mypy.ini"  # the build's own (streams.hot_path.mypy_config)
    config.write_text(hot_path.mypy_config())
    done = subprocess.run([str(Path(sys.executable).parent / "mypy"), "--no-incremental",
                           "--config-file", str(config), *paths], cwd=root,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:]


def test_an_extension_left_beside_a_module_no_longer_compiled_is_never_loaded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # an earlier build compiled streams.core.ledger; a pull took it out of MODULES: Python's
    # own finders would load that extension (built against another shared library)
    left = tmp_path / f"ledger{compiled.SUFFIX}"
    left.write_bytes(b"\x7fELF")
    real = compiled.compiled_path
    monkeypatch.setattr(compiled, "compiled_path",
                        lambda m: left if m == "streams.core.ledger" else real(m))
    monkeypatch.setattr(compiled, "_state", compiled.State(True, "test"))
    finder = compiled._Finder()
    spec = finder.find_spec("streams.core.ledger")
    assert spec is not None and spec.origin == str(compiled.source_path("streams.core.ledger"))
    assert finder.find_spec("streams.core.config") is None  # nothing beside it: the usual
    assert finder.find_spec("orjson") is None


@pytest.mark.parametrize("outcome", ["a type error", "nothing built"])
def test_a_failed_build_keeps_only_its_log_and_touches_no_module(
        outcome: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("mypy")
    monkeypatch.setattr(hot_path.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(compiled, "STAMP", tmp_path / "hot__mypyc.json")  # not the real one

    def compile_(paths, src, work, log_path, failed):
        log_path.write_text("mypyc's output\n")
        if outcome == "a type error":
            raise hot_path.BuildError(failed)  # else: returns having built nothing

    monkeypatch.setattr(hot_path, "_compile", compile_)
    before = {p: p.stat().st_mtime_ns for p in compiled.PACKAGE_DIR.rglob(f"*{compiled.SUFFIX}")}
    with pytest.raises(hot_path.BuildError, match=r"mypyc failed .*see .*build\.log"):
        hot_path.build(log=lambda line: None)
    (work,) = tmp_path.glob("ccpulse-mypyc-*")
    assert [p.name for p in work.iterdir()] == ["build.log"]
    assert before == {p: p.stat().st_mtime_ns
                      for p in compiled.PACKAGE_DIR.rglob(f"*{compiled.SUFFIX}")}
