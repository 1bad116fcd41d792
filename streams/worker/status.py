"""The worker's status lines: what an operator reads to follow a start, a crash restart and
its snapshots (``metrics on …``, ``24 engines built in 0.4 s (…)``, ``removed it (…)``).

They are INFO lines, one format with every other line of the worker's log (timestamp, pid,
level), written by a handler of their own on the standard output the process started with:

* shown at the default log level (``CCPULSE_LOG_LEVEL=warning`` is for the libraries, whose
  INFO lines are many and say little); ``error`` or ``critical`` hide them;
* not through Faust's redirection of ``print`` (which logs everything printed at WARNING,
  so a routine start read as a warning), and also before Faust's logging is set up (the
  lines ``ccpulse worker`` writes before it starts the Faust worker);
* a trouble worth a look (a snapshot dropped, the dead member not removed) is a WARNING line
  of the same logger.

Example::

    [2026-12-01 18:31:01,851] [32524] [INFO] ccpulse worker: 24 engines built in 0.0 s (…)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TextIO

from streams.errors import ConfigError
from streams.logfilter import StreamAtEachRecord

#: The logger of the status lines (its records do not propagate to the root's handlers).
STATUS_LOGGER = "ccpulse.status"
#: The names ``CCPULSE_LOG_LEVEL`` takes.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The same layout as Faust's own log lines.
FORMAT = "[%(asctime)s] [%(process)s] [%(levelname)s] %(message)s"

_log = logging.getLogger(STATUS_LOGGER)
#: The name of the handler :func:`show_status` adds (a second call replaces it).
_HANDLER_NAME = "ccpulse-status"


def show_status(loglevel: str = "warning", stream: TextIO | None = None) -> None:
    """Send the status lines to ``stream`` (default: the process's standard output), at INFO
    unless ``loglevel`` (``CCPULSE_LOG_LEVEL``) is above WARNING. Calling it again replaces
    the handler.

    Raises :class:`~streams.errors.ConfigError` for a ``loglevel`` that is not a level name."""
    level = log_level(loglevel)
    for old in [h for h in _log.handlers if h.get_name() == _HANDLER_NAME]:
        _log.removeHandler(old)
    # by default the process's own standard output, looked up at each line: not Faust's
    # redirection of sys.stdout (which would log each line again at WARNING)
    handler = (logging.StreamHandler(stream) if stream is not None
               else StreamAtEachRecord(lambda: sys.__stdout__ or sys.stdout))
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT))
    _log.addHandler(handler)
    _log.setLevel(logging.INFO if level <= logging.WARNING else level)
    _log.propagate = False


def log_level(name: str) -> int:
    """The level ``CCPULSE_LOG_LEVEL`` names (any case); :class:`~streams.errors.ConfigError`
    naming the choices otherwise."""
    upper = name.strip().upper()
    if upper not in LEVELS:
        raise ConfigError(f"CCPULSE_LOG_LEVEL={name!r} is not a log level; use one of "
                          f"{', '.join(n.lower() for n in LEVELS)}")
    return logging.getLevelName(upper)


def configured_log_level(environ: Mapping[str, str]) -> str:
    """``CCPULSE_LOG_LEVEL`` from ``environ`` as a lower-case level name, ``warning`` when it is
    unset or empty (as every empty ``CCPULSE_*`` variable counts as unset);
    :class:`~streams.errors.ConfigError` naming the choices when it is no level."""
    raw = environ.get("CCPULSE_LOG_LEVEL") or "warning"
    log_level(raw)
    return raw.strip().lower()


def status(message: str) -> None:
    """One status line: ``ccpulse worker: <message>`` at INFO."""
    _log.info("ccpulse worker: %s", message)


def status_warning(message: str) -> None:
    """A status line worth a look: ``ccpulse worker: <message>`` at WARNING."""
    _log.warning("ccpulse worker: %s", message)
