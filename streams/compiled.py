"""The hot path compiled with mypyc, used only while it is the code beside it.

Twelve modules every event goes through — :data:`MODULES`: the timestamp parser, decode
and validation, the ingest step, the pipeline counts, every entity kind (contacts, agents,
tickets, surveys and QA, customers) and the engine — are compiled to C by mypyc (mypy's
compiler, as mypy and black ship themselves), together, into one shared library
``streams/hot__mypyc.*.so`` with a small extension module beside each ``.py``
(``streams.hot_path`` builds them). Their source is unchanged and fully typed
(``tests/unit/test_compiled_state.py`` runs ``mypy`` on them); the compiled copy drains
36–66 % more call events a second through the broker, and spends ~27 % less CPU an event on
a feed of every family (docs/performance.md, "The hot path").

Which copy runs is decided once a process, at the first import of one of them
(:class:`_Finder`, installed by ``streams/__init__.py``):

* the compiled copy when the stamp the build wrote (:data:`STAMP`) names this Python's
  extension suffix and the SHA-256 of every ``.py`` of the package as it is now — not only
  the twelve: mypyc compiles in what they import (a named tuple's field positions, ``Final``
  constants), so any edit, or a ``git pull``, means the Python source until the next build;
* otherwise the Python source, all twelve together (compiled modules call one another
  directly);
* the Python source whenever ``CCPULSE_PURE_PYTHON=1`` (:data:`PURE_ENV`).

Both give the same numbers (``tests/cli/test_compiled_hot_path.py`` runs a replay through
each). :func:`state` says which runs and why; the worker prints it as it starts, and
``python -m streams.hot_path status`` checks that each module came from the copy chosen.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import orjson

#: The modules compiled, dependencies first.
MODULES: tuple[str, ...] = (
    "streams.core.timestamps",
    "streams.core.pipeline",
    "streams.core.entities.contact",
    "streams.core.entities.agent",
    "streams.core.entities.event_log",
    "streams.core.entities.feedback",
    "streams.core.entities.customer",
    "streams.core.entities.ticket",
    "streams.core.entities.kinds",
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
#: What each reason for the Python source ends with, but the opt-out's.
BUILD = "run `python -m streams.hot_path build`"


@dataclass(frozen=True)
class State:
    """Which copy of :data:`MODULES` this process runs, and why."""

    compiled: bool
    reason: str  #: one line, e.g. "not built: run `python -m streams.hot_path build`"

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


def group_path() -> Path:
    """The shared library every compiled module imports: ``streams/hot__mypyc<suffix>``."""
    return PACKAGE_DIR / f"hot__mypyc{SUFFIX}"


def built_paths() -> tuple[Path, ...]:
    """What a build puts in the package: :func:`group_path`, then each module's
    :func:`compiled_path`."""
    return (group_path(), *map(compiled_path, MODULES))


def source_digests(copy_to: Path | None = None) -> dict[str, str]:
    """SHA-256 of every ``.py`` of the package, by its path from the package's parent
    (``streams/core/engine.py``): what the stamp records and :func:`decide` compares. With
    ``copy_to``, each file is also written there under that path, the very bytes digested
    (what the build compiles).

    Raises ``OSError`` when a file cannot be read or written."""
    root = PACKAGE_DIR.parent
    digests = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        data = path.read_bytes()
        digests[name] = hashlib.sha256(data).hexdigest()
        if copy_to is not None:
            (copy_to / name).parent.mkdir(parents=True, exist_ok=True)
            (copy_to / name).write_bytes(data)
    return digests


def decide(*, honour_env: bool = True) -> State:
    """Which copy of :data:`MODULES` would run now (what :func:`state` decides once).
    ``honour_env=False``: as if :data:`PURE_ENV` were not set (is the build current?)."""
    if honour_env and os.environ.get(PURE_ENV, "") not in ("", "0"):
        return State(False, f"{PURE_ENV} is set")
    try:
        stamp = orjson.loads(STAMP.read_bytes())
    except FileNotFoundError:
        return State(False, f"not built: {BUILD}")
    except (OSError, orjson.JSONDecodeError) as exc:
        return State(False, f"{STAMP.name} unreadable ({exc}): {BUILD}")
    if stamp.get("suffix") != SUFFIX:
        return State(False, f"built for another Python ({stamp.get('suffix')}): {BUILD}")
    try:
        current = source_digests()
    except OSError as exc:
        return State(False, f"a source cannot be read ({exc})")
    built = stamp.get("sources", {})
    changed = sorted(set(current) ^ set(built)
                     | {path for path in current if built.get(path) != current[path]})
    if changed:
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        return State(False, f"{changed[0]}{more} changed since the last build: {BUILD}")
    for path in built_paths():
        if not path.exists():
            return State(False, f"{path.name} missing: {BUILD}")
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
    says, and any other module of the package with an extension module left beside its
    source (a module an earlier build compiled, before a pull or a checkout took it out of
    :data:`MODULES`) from its source: Python's own finders would prefer the extension, built
    against another shared library. Every other module is left to the usual finders."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in _MODULE_SET:
            chosen = compiled_path(fullname) if state().compiled else source_path(fullname)
            return importlib.util.spec_from_file_location(fullname, chosen)
        if fullname.startswith("streams.") and compiled_path(fullname).exists():
            source = source_path(fullname)
            if source.exists():
                return importlib.util.spec_from_file_location(fullname, source)
        return None


_MODULE_SET = frozenset(MODULES)


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
