"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest
from kpi_helpers import Centre


@pytest.fixture
def centre() -> Centre:
    return Centre()
