"""The core stays pure: no Faust, Kafka, Prometheus client, network or file I/O imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "streams" / "core"
FORBIDDEN = {"faust", "aiokafka", "mode", "prometheus_client", "orjson", "socket", "asyncio",
             "aiohttp", "requests", "subprocess", "os", "pathlib", "time"}


@pytest.mark.parametrize("module", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(module: Path):
    tree = ast.parse(module.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & FORBIDDEN, f"{module.name} imports {imported & FORBIDDEN}"
