"""Fixtures of the unit tests."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from kpi_helpers import Centre

from streams.worker.status import STATUS_LOGGER


@pytest.fixture
def centre() -> Centre:
    return Centre()


@pytest.fixture
def status_lines(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """The worker's status lines (``streams.worker.status``) logged since the last call, one
    ``ccpulse worker: …`` message a line, as its log shows them after the time stamp."""
    caplog.set_level(logging.INFO, logger=STATUS_LOGGER)

    def read() -> str:
        text = "".join(f"{r.getMessage()}\n" for r in caplog.records if r.name == STATUS_LOGGER)
        caplog.clear()
        return text

    return read
