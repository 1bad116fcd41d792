"""Ctrl-C, SIGTERM and SIGHUP for a command that supervises children (``ccpulse demo``).

Inside :func:`stop_on_signals` the first stop signal raises :class:`Stop` wherever the command
is, and is also kept on the :class:`StopSignals` it yields, because CPython can swallow an
exception raised by a signal handler: a handler that runs inside an at-fork callback (every
``subprocess.Popen`` with a ``preexec_fn`` runs ``logging``'s lock callbacks around its fork),
a ``__del__`` or a weakref callback has its exception printed as "Exception ignored" and
dropped. A command that waits only through :meth:`StopSignals.pause` then stops at its next
pause instead of never (a command checks with :meth:`StopSignals.check` after a long call that
does not pause, such as starting a broker). Signals that arrive once clean-up has begun are
kept, not raised, so a second Ctrl-C cannot cut the clean-up short.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(BaseException):
    """Raised by SIGINT, SIGTERM or SIGHUP (a BaseException, like KeyboardInterrupt, so no
    library's ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopSignals:
    """The stop signals received inside :func:`stop_on_signals`.

    ``received``: the first stop signal's number, None until one arrives. ``cleaning_up``:
    set by the command when its clean-up begins; from then on signals only set ``received``.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self.cleaning_up = False

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """The handler: keep the first signal; raise :class:`Stop` unless cleaning up."""
        if self.received is None:
            self.received = signum
        if not self.cleaning_up:
            raise Stop(self.received)

    def check(self) -> None:
        """Raise :class:`Stop` if a stop signal arrived whose Stop was swallowed on the way
        (see the module's docstring); nothing once clean-up has begun.

        Raises:
            Stop: a stop signal was received and clean-up has not begun.
        """
        if self.received is not None and not self.cleaning_up:
            raise Stop(self.received)

    def pause(self, seconds: float) -> None:
        """``time.sleep(seconds)`` between two :meth:`check` calls: every wait of a command
        that supervises goes through here, so a swallowed stop signal stops it within one
        pause.

        Raises:
            Stop: a stop signal arrived before or during the pause.
        """
        self.check()
        time.sleep(seconds)
        self.check()


@contextmanager
def stop_on_signals(signals: StopSignals | None = None) -> Iterator[StopSignals]:
    """Inside: the stop signals raise :class:`Stop` (installed explicitly, since a shell may
    have started us with SIGINT ignored) and are kept on ``signals`` (a new
    :class:`StopSignals` if None), which is yielded. On the way out they are ignored until
    the caller's clean-up is done."""
    if signals is None:
        signals = StopSignals()
    for s in STOP_SIGNALS:
        signal.signal(s, signals.on_signal)
    try:
        yield signals
    finally:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def restore_signals() -> None:
    """The stop signals' default handlers again (SIGINT: KeyboardInterrupt)."""
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_DFL if s != signal.SIGINT else signal.default_int_handler)
