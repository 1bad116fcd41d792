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


@pytest.fixture(params=[None, 1, 3], ids=["runs-as-shipped", "runs-of-1", "runs-of-3"])
def run_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exposition's run sizes as shipped and small, so that a family's lines and a
    histogram's samples span many runs (``streams.exporter._runs``): a changed line marks
    its run, keys added join them all again. Starts from a fresh exposition."""
    from streams import exporter

    if request.param is not None:
        monkeypatch.setattr(exporter, "RUN_LINES", request.param)
        monkeypatch.setattr(exporter, "RUN_SAMPLES", request.param)
    exporter.forget()
