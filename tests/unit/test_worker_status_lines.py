"""The worker's status lines: INFO, timestamped like Faust's lines, shown at the default level,
hidden at ``error``; a bad ``CCPULSE_LOG_LEVEL`` is one line naming the choices."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from streams.errors import ConfigError
from streams.worker.status import (
    STATUS_LOGGER,
    configured_log_level,
    log_level,
    show_status,
    status,
    status_warning,
)

LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[\d+\] \[(\w+)\] (.*)$")


@pytest.fixture(autouse=True)
def status_logger() -> Iterator[None]:
    logger = logging.getLogger(STATUS_LOGGER)
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate


def test_a_status_line_is_info_with_the_time_and_pid_at_the_default_level():
    out = io.StringIO()
    show_status("warning", out)
    status("24 engines built in 0.4 s")
    status_warning("snapshot of cc.calls-0 dropped")
    lines = [LINE.match(line) for line in out.getvalue().splitlines()]
    assert [(m.group(1), m.group(2)) for m in lines if m] == [
        ("INFO", "ccpulse worker: 24 engines built in 0.4 s"),
        ("WARNING", "ccpulse worker: snapshot of cc.calls-0 dropped"),
    ]


def test_status_lines_do_not_reach_the_root_loggers_handlers():
    """Faust's root handler would print them a second time."""
    out = io.StringIO()
    show_status("info", out)
    root = io.StringIO()
    handler = logging.StreamHandler(root)
    logging.getLogger().addHandler(handler)
    try:
        status("metrics on http://127.0.0.1:6066/metrics")
    finally:
        logging.getLogger().removeHandler(handler)
    assert root.getvalue() == ""
    assert out.getvalue().count("metrics on") == 1


def test_at_error_level_only_errors_show_and_showing_again_replaces_the_handler():
    out, first = io.StringIO(), io.StringIO()
    show_status("warning", first)
    show_status("ERROR", out)
    status("engines built")
    status_warning("snapshot dropped")
    assert out.getvalue() == ""
    ours = [h for h in logging.getLogger(STATUS_LOGGER).handlers
            if isinstance(h, logging.StreamHandler) and h.stream is out]
    assert len(ours) == 1
    assert not any(isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is first
                   for h in logging.getLogger(STATUS_LOGGER).handlers)


def test_a_log_level_that_is_no_level_names_the_choices():
    with pytest.raises(ConfigError, match=r"^CCPULSE_LOG_LEVEL='verbose' is not a log level; "
                                          r"use one of debug, info, warning, error, critical$"):
        log_level("verbose")
    assert log_level(" Info ") == logging.INFO


@pytest.mark.parametrize(("environ", "expected"),
                         [({}, "warning"), ({"CCPULSE_LOG_LEVEL": ""}, "warning"),
                          ({"CCPULSE_LOG_LEVEL": " INFO "}, "info")],
                         ids=["unset", "empty-counts-as-unset", "any-case"])
def test_the_configured_log_level(environ, expected):
    assert configured_log_level(environ) == expected


def test_a_bad_configured_log_level_is_echoed_as_typed():
    with pytest.raises(ConfigError, match=r"^CCPULSE_LOG_LEVEL='VERBOSE' is not a log level"):
        configured_log_level({"CCPULSE_LOG_LEVEL": "VERBOSE"})


def test_by_default_the_lines_go_to_the_processs_own_standard_output(monkeypatch):
    """Not to whatever ``sys.stdout`` is at the time: Faust replaces it with a logger that
    would log each line again at WARNING."""
    out = io.StringIO()
    monkeypatch.setattr("sys.__stdout__", out)
    show_status("warning")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # Faust's redirection, say
    status("metrics on http://127.0.0.1:6066/metrics")
    assert "[INFO] ccpulse worker: metrics on" in out.getvalue()
