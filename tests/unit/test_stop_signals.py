"""Stop signals for commands that supervise children (streams/stop_signals.py, the demo)."""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.stop_signals import STOP_SIGNALS, Stop, StopSignals, stop_on_signals

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _handlers_restored() -> Iterator[None]:
    """stop_on_signals leaves the stop signals ignored: give pytest its own handlers back."""
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    yield
    for s, handler in before.items():
        signal.signal(s, handler)


def test_a_stop_signal_raises_stop_where_the_command_is():
    with stop_on_signals() as signals, pytest.raises(Stop) as stopped:
        signal.raise_signal(signal.SIGTERM)
    assert stopped.value.signum == signal.SIGTERM
    assert signals.received == signal.SIGTERM


def test_a_stop_swallowed_on_the_way_is_raised_again_at_the_next_pause():
    with stop_on_signals() as signals:
        # what CPython does to it inside an at-fork callback or a __del__:
        with contextlib.suppress(Stop):
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(Stop) as stopped:
            signals.pause(0.0)
    assert stopped.value.signum == signal.SIGINT


def test_the_first_signal_is_the_one_raised_again():
    with stop_on_signals() as signals:
        for signum in (signal.SIGHUP, signal.SIGINT):
            with pytest.raises(Stop):
                signal.raise_signal(signum)
        with pytest.raises(Stop) as stopped:
            signals.check()
    assert stopped.value.signum == signal.SIGHUP


def test_signals_once_clean_up_began_are_kept_not_raised():
    with stop_on_signals() as signals:
        signals.cleaning_up = True
        signal.raise_signal(signal.SIGINT)  # a second Ctrl-C: clean-up goes on
        signals.pause(0.0)
    assert signals.received == signal.SIGINT


def test_no_signal_no_stop():
    with stop_on_signals() as signals:
        signals.pause(0.0)
    assert signals.received is None


def test_the_stop_signals_are_ignored_on_the_way_out():
    with stop_on_signals():
        pass
    assert all(signal.getsignal(s) == signal.SIG_IGN for s in STOP_SIGNALS)


def test_a_stop_signal_during_a_fork_with_preexec_fn_stops_the_command_at_its_next_pause(
        tmp_path: Path):
    """The demo's rare hang in CI: Ctrl-C arriving while it starts a child
    (``subprocess.Popen`` with a ``preexec_fn``) ran the handler inside logging's at-fork
    callback, where CPython prints "Exception ignored" and drops the exception; the demo went
    on watching for ever. Here the signal arrives inside an at-fork callback every time, and
    the command stops at its next pause."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from streams.children import start_child
        from streams.stop_signals import Stop, stop_on_signals

        os.register_at_fork(after_in_parent=lambda: signal.raise_signal(signal.SIGINT))
        try:
            with stop_on_signals() as signals:
                start_child([sys.executable, "-c", "pass"], os.environ,
                            Path({str(tmp_path / "child.log")!r})).wait()
                print("started", flush=True)
                for _ in range(100):
                    signals.pause(0.05)
        except Stop as stop:
            print("stopped by", stop, flush=True)
            sys.exit(0)
        sys.exit(3)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert "Exception ignored" in done.stderr, done.stderr  # CPython swallowed the Stop ...
    assert done.stdout.splitlines() == ["started", "stopped by SIGINT"], done.stderr
    assert done.returncode == 0  # ... and the pause raised it again


def test_the_demo_waits_only_through_its_stop_signals_pause():
    """Every wait of the demo's supervising loops is a pause that raises a swallowed Stop."""
    tree = ast.parse((REPO / "streams" / "demo.py").read_text())
    demo = next(node for node in tree.body
                if isinstance(node, ast.ClassDef) and node.name == "Demo")
    sleeps = [node.lineno for node in ast.walk(demo)
              if isinstance(node, ast.Call) and ast.unparse(node.func) == "time.sleep"]
    assert sleeps == []
    pauses = [node.lineno for node in ast.walk(demo)
              if isinstance(node, ast.Call) and ast.unparse(node.func) == "self.signals.pause"]
    assert len(pauses) >= 4
    waits = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and ast.unparse(node.func) == "_wait_healthy"]
    assert waits and all(any(k.arg == "pause" and ast.unparse(k.value) == "self.signals.pause"
                             for k in node.keywords) for node in waits)


def test_the_signals_given_are_those_kept():
    given = StopSignals()
    with stop_on_signals(given) as signals, pytest.raises(Stop):
        signal.raise_signal(signal.SIGHUP)
    assert signals is given and given.received == signal.SIGHUP
