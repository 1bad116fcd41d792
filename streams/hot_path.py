"""``python -m streams.hot_path build``: compile the hot path with mypyc (:mod:`streams.compiled`
says which modules and when the compiled copy is used); ``status``: say which copy this
Python runs, and check that every module came from it. ``deploy/setup.sh`` runs the build.

Exit status: 0 built (or already current) / the status holds; 1 the build failed (one line
says why and where the compiler's log is; ccpulse then runs its Python source) / a module
came from the other copy; 2 a wrong command or option.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from streams import compiled


class BuildError(Exception):
    """The compiled copy could not be built; the message is one line, with what to do."""


#: Modules the compiled ones import that are not typed exactly yet (not compiled): mypy reads
#: them for their types but does not report their errors.
NOT_EXACT: tuple[str, ...] = (
    "streams.core.agent_ledger", "streams.core.config", "streams.core.ledger",
    "streams.core.report", "streams.core.ticket_kpis",
)


def mypy_config() -> str:
    """The mypy configuration the build compiles under (and
    ``tests/unit/test_compiled_state.py`` checks the compiled modules with): Python 3.11,
    third-party modules without types taken as ``Any``, :data:`NOT_EXACT`'s errors not
    reported. Given to mypy as a file, so the build needs no ``pyproject.toml`` (an
    installed package, the image) and reads nothing else of the directory it runs in."""
    return ("[mypy]\npython_version = 3.11\nignore_missing_imports = True\n\n"
            f"[mypy-{','.join(NOT_EXACT)}]\nignore_errors = True\n")


def build(log: Callable[[str], object] = print) -> float:
    """Compile :data:`~streams.compiled.MODULES` and write the stamp; returns the seconds it
    took. mypyc compiles a copy of the package's sources in a work directory, under
    :func:`mypy_config`; the extension modules are then put beside the sources (each renamed
    over the one before: a running process keeps the copy it loaded).

    The stamp is removed first and written last, with the digests of the sources read before
    the compiler ran (and checked again after it), so a build that fails, or a source saved
    while it ran, leaves the Python source in use. The compiler's output goes to a log file
    named in the error; a failed build keeps only that file.

    Raises :class:`BuildError`: no mypy, no C compiler or Python headers, the sources not
    copied to the work directory (no space), a type error, a source changed during the build.
    """
    try:
        import mypy.version  # only the build needs mypy (the `compile` extra)
        import mypyc.build  # noqa: F401  (_compile's)
        import setuptools  # noqa: F401
    except ImportError as exc:
        raise BuildError(f"mypy is not installed ({exc}): pip install -e '.[compile]'") from exc
    if shutil.which(os.environ.get("CC", "cc")) is None and shutil.which("gcc") is None:
        raise BuildError("no C compiler found: install gcc (Debian: apt-get install gcc)")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.exists():
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        raise BuildError(f"Python's headers are missing ({headers}): install them "
                         f"(Debian: apt-get install python{version}-dev)")
    started = time.monotonic()
    compiled.STAMP.unlink(missing_ok=True)
    root = compiled.PACKAGE_DIR.parent
    paths = [str(compiled.source_path(m).relative_to(root)) for m in compiled.MODULES]
    work = Path(tempfile.mkdtemp(prefix="ccpulse-mypyc-"))
    log_path = work / "build.log"
    failed = (f"mypyc failed (type errors or compiler errors: see {log_path}); ccpulse runs "
              "its Python source meanwhile")
    built_ok = False
    try:
        # mypyc compiles a copy of the package's sources, the very bytes digested, in a
        # directory of its own: where the package is installed (site-packages) it would also
        # take every other top-level module there for one of ours
        src = work / "src"
        try:
            digests = compiled.source_digests(copy_to=src)
            (work / "mypy.ini").write_text(mypy_config(), encoding="utf-8")
        except OSError as exc:
            raise BuildError(f"the sources could not be copied to {work} ({exc}): free some "
                             "space there, or set TMPDIR to another directory") from None
        log(f"compiling the hot path with mypyc {mypy.version.__version__} "
            f"({len(compiled.MODULES)} modules, under a minute) ...")
        _compile(paths, src, work, log_path, failed)
        for path in compiled.built_paths():
            built = src / path.relative_to(root)
            if not built.exists():
                raise BuildError(f"{path.name} was not built: {failed}")
            # a new file renamed over the old: a process running the old copy keeps its own
            fresh = path.with_name(path.name + ".new")
            shutil.copyfile(built, fresh)
            os.replace(fresh, path)
        if compiled.source_digests() != digests:
            raise BuildError("a source changed while it was compiled: build again")
        wanted = set(compiled.built_paths())
        for leftover in set(compiled.PACKAGE_DIR.rglob(f"*{compiled.SUFFIX}")) - wanted:
            leftover.unlink()  # a module an earlier build compiled that is no longer compiled
        compiled.STAMP.write_bytes(orjson.dumps({
            "suffix": compiled.SUFFIX, "mypy": mypy.version.__version__, "sources": digests},
            option=orjson.OPT_INDENT_2))
        built_ok = True
    finally:
        if built_ok or not log_path.exists():
            shutil.rmtree(work, ignore_errors=True)
        else:  # the log stays, for the error's "see ..."
            for part in ("c", "temp", "lib", "src"):
                shutil.rmtree(work / part, ignore_errors=True)
            (work / "mypy.ini").unlink(missing_ok=True)
    return time.monotonic() - started


def _compile(paths: list[str], src: Path, work: Path, log_path: Path, failed: str) -> None:
    """mypyc on ``paths`` (from ``src``, under ``work/mypy.ini``) into one shared library,
    the extension modules built in place under ``src``; its output and gcc's to
    ``log_path``. Raises :class:`BuildError` (``failed``) on a type or compiler error."""
    from mypyc.build import mypycify
    from setuptools import Distribution

    cwd = os.getcwd()
    with open(log_path, "w") as out, _redirected(out):
        os.chdir(src)  # mypyc names modules by their paths from here
        try:
            extensions = mypycify(["--config-file", str(work / "mypy.ini"), *paths],
                                  opt_level="3", separate=[(paths, compiled.GROUP)],
                                  target_dir=str(work / "c"))
            dist = Distribution({"name": "ccpulse-hot-path", "ext_modules": extensions})
            command: Any = dist.get_command_obj("build_ext")
            command.inplace = True
            command.build_temp = str(work / "temp")
            command.build_lib = str(work / "lib")
            dist.run_command("build_ext")
        except (SystemExit, Exception):  # mypyc exits on a type error, distutils on gcc's
            raise BuildError(failed) from None
        finally:
            os.chdir(cwd)


@contextlib.contextmanager
def _redirected(out: IO[str]) -> Iterator[None]:
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


def loaded_from() -> dict[str, str]:
    """Import every one of :data:`~streams.compiled.MODULES` and say where each came from:
    module -> ``compiled`` or ``source``."""
    return {m: "compiled" if str(importlib.import_module(m).__file__).endswith(compiled.SUFFIX)
            else "source" for m in compiled.MODULES}


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.hot_path [status | build [--force]]``: say which copy runs (the
    default), or build the compiled copy (unless it is current, or with ``--force``)."""
    parser = argparse.ArgumentParser(
        prog="python -m streams.hot_path",
        description="The hot path compiled with mypyc (docs/performance.md, 'The hot path').")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("status", help="say which copy of the hot path runs here, and why "
                                  "(the default)")
    build_command = sub.add_parser("build", help="compile the hot path (skipped when current)")
    build_command.add_argument("--force", action="store_true",
                               help="compile even when the compiled copy is current")
    args = parser.parse_args(argv)
    if args.command in (None, "status"):
        state = compiled.state()
        wanted = "compiled" if state.compiled else "source"
        other = [m for m, came in loaded_from().items() if came != wanted]
        if other:
            print(f"Error: {state.line()}, but {', '.join(other)} came from the other copy "
                  "(a bug of streams.compiled: report it)", file=sys.stderr)
            return 1
        print(state.line())
        return 0
    current = compiled.decide(honour_env=False)
    if current.compiled and not args.force:
        print(f"{current.line()}: already built")
        return 0
    try:
        seconds = build()
    except BuildError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"hot path compiled with mypyc in {seconds:.0f} s "
          f"({len(compiled.MODULES)} modules, {compiled.decide(honour_env=False).reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
