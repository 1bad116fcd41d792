"""Shared by every suite: the integration suite's helper modules are importable by name from
the unit and CLI tests too (``from ports import free_port``: one port picker for every test)."""

from __future__ import annotations

import sys
from pathlib import Path

_INTEGRATION = str(Path(__file__).resolve().parent / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)
