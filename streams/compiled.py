"""The hot path compiled with mypyc, used only while it is the code beside it.

Six modules every event goes through — :data:`MODULES`: the timestamp parser, decode and
validation, the ingest step, the pipeline counts, the contact kind and the engine — are
compiled to C by
mypyc (mypy's compiler, as mypy and black ship themselves), together, into one shared
library ``streams/hot__mypyc.*.so`` with a small extension module beside each ``.py``. Their
source is unchanged and fully typed (``mypy`` checks them in the unit tests); the compiled
copy drains ~35–65 % more call events a second through the broker (docs/performance.md,
"A compiled hot path").

Which one runs is decided once a process, at the first import of one of them
(:class:`_Finder`, installed by ``streams/__init__.py``):

* the compiled copy when the stamp the build wrote (:data:`STAMP`) names this Python's
  extension suffix and the SHA-256 of every module's source as it is now;
* otherwise the Python source — never a compiled copy older than its ``.py`` (an edit, a
  ``git pull`` without building again) — all six together, since compiled modules call one
  another directly;
* the Python source whenever ``CCPULSE_PURE_PYTHON=1`` (:data:`PURE_ENV`).

Both give the same numbers (``tests/unit/test_compiled_hot_path.py`` runs a replay through
each). :func:`state` says which runs and why; the worker prints it as it starts.

Build (``deploy/setup.sh`` does it; needs ``mypy`` from the ``compile`` extra and a C
compiler with Python's headers)::

    .venv/bin/python -m streams.hot_path build
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

#: The modules compiled, dependencies first.
MODULES: tuple[str, ...] = (
    "streams.core.timestamps",
    "streams.core.pipeline",
    "streams.core.entities.contact",
    "streams.core.engine",
    "streams.validation",
    "streams.ingest",
)
#: The shared library's module name: ``streams/hot__mypyc.<suffix>``.
GROUP = "streams.hot"
#: Set to ``1`` to run the Python source even where a current compiled copy exists.
PURE_ENV = "CCPULSE_PURE_PYTHON"
#: The package directory (``streams/``) and the stamp the build writes there.
PACKAGE_DIR = Path(__file__).resolve().parent
STAMP = PACKAGE_DIR / "hot__mypyc.json"
#: The extension suffix this interpreter loads (``.cpython-311-x86_64-linux-gnu.so``).
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@dataclass(frozen=True)
class State:
    """Which copy of :data:`MODULES` this process runs, and why."""

    compiled: bool
    reason: str  #: one line, e.g. "not built (run `python -m streams.hot_path build`)"

    def line(self) -> str:
        """What the worker prints as it starts."""
        if self.compiled:
            return f"hot path: compiled with mypyc ({len(MODULES)} modules, {self.reason})"
        return f"hot path: Python source ({self.reason})"


def source_path(module: str) -> Path:
    """The ``.py`` of one of :data:`MODULES`."""
    return PACKAGE_DIR.parent.joinpath(*module.split(".")).with_suffix(".py")


def compiled_path(module: str) -> Path:
    """The extension module a build puts beside :func:`source_path`."""
    return source_path(module).with_suffix(SUFFIX)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decide() -> State:
    if os.environ.get(PURE_ENV, "") not in ("", "0"):
        return State(False, f"{PURE_ENV} is set")
    try:
        stamp = orjson.loads(STAMP.read_bytes())
    except FileNotFoundError:
        return State(False, "not built: run `python -m streams.hot_path build`")
    except (OSError, orjson.JSONDecodeError) as exc:
        return State(False, f"{STAMP.name} unreadable ({exc}): build again")
    if stamp.get("suffix") != SUFFIX:
        return State(False, f"built for another Python ({stamp.get('suffix')}): build again")
    sources = stamp.get("sources", {})
    for module in MODULES:
        try:
            current = _digest(source_path(module))
        except OSError as exc:
            return State(False, f"{module}: {exc}")
        if sources.get(module) != current:
            return State(False, f"{source_path(module).name} changed since the build: "
                                "build again")
        if not compiled_path(module).exists():
            return State(False, f"{compiled_path(module).name} missing: build again")
    return State(True, f"mypy {stamp.get('mypy', '?')}")


_state: State | None = None


def state() -> State:
    """Which copy runs in this process (decided once, at the first call)."""
    global _state
    if _state is None:
        _state = decide()
    return _state


class _Finder(importlib.abc.MetaPathFinder):
    """Loads each of :data:`MODULES` from its compiled copy or its source, as :func:`state`
    says; every other module is left to the usual finders."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _MODULE_SET:
            return None
        chosen = compiled_path(fullname) if state().compiled else source_path(fullname)
        return importlib.util.spec_from_file_location(fullname, chosen)


_MODULE_SET = frozenset(MODULES)


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


# --------------------------------------------------------------------------------------------
# The build


class BuildError(Exception):
    """The compiled copy could not be built; the message is one line, with what to do."""


def build(log: Any = print) -> float:
    """Compile :data:`MODULES` in place and write :data:`STAMP`; returns the seconds it took.

    The stamp is removed first and written last, so a build that fails leaves the Python
    source in use. The compiler's own output goes to a log file named in the error.

    Raises :class:`BuildError` (no mypy, no C compiler or headers, a type error).
    """
    try:
        import mypy.version  # only the build needs mypy (the `compile` extra)
        from mypyc.build import mypycify
        from setuptools import Distribution
    except ImportError as exc:
        raise BuildError(f"mypy is not installed ({exc}): pip install -e '.[compile]'") from exc
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        raise BuildError("no C compiler found: install gcc (Debian: apt-get install gcc)")
    started = time.monotonic()
    STAMP.unlink(missing_ok=True)
    root = PACKAGE_DIR.parent
    paths = [str(source_path(m).relative_to(root)) for m in MODULES]
    work = Path(tempfile.mkdtemp(prefix="ccpulse-mypyc-"))
    log_path = work / "build.log"
    log(f"compiling the hot path with mypyc {mypy.version.__version__} "
        f"({len(MODULES)} modules, about a minute) ...")
    cwd = os.getcwd()
    try:
        with open(log_path, "w") as out, _redirected(out):
            os.chdir(root)  # mypyc names modules by their paths from here
            try:
                extensions = mypycify(paths, opt_level="3", separate=[(paths, GROUP)],
                                      target_dir=str(work / "c"))
                dist = Distribution({"name": "ccpulse-hot-path", "ext_modules": extensions})
                command: Any = dist.get_command_obj("build_ext")
                command.inplace = True
                command.build_temp = str(work / "temp")
                dist.run_command("build_ext")
            except SystemExit as exc:  # mypyc exits on a type error, distutils on gcc's
                raise BuildError(f"mypyc failed ({exc}); see {log_path}") from None
            except Exception as exc:
                raise BuildError(f"mypyc failed ({type(exc).__name__}: {exc}); "
                                 f"see {log_path}") from None
    finally:
        os.chdir(cwd)
    for module in MODULES:
        if not compiled_path(module).exists():
            raise BuildError(f"{compiled_path(module).name} was not built; see {log_path}")
    STAMP.write_bytes(orjson.dumps({
        "suffix": SUFFIX, "mypy": mypy.version.__version__,
        "sources": {m: _digest(source_path(m)) for m in MODULES}}, option=orjson.OPT_INDENT_2))
    shutil.rmtree(work, ignore_errors=True)
    return time.monotonic() - started


@contextlib.contextmanager
def _redirected(out: Any) -> Any:
    """Send this process's stdout and stderr (file descriptors 1 and 2: gcc's too) to
    ``out`` while the block runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    try:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
