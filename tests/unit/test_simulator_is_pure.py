"""The event generator is pure: no clock, no I/O, no global randomness -- so a seed and a start
time determine every event. Pacing, sinks and the CLI are the impure shell around it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "streams" / "simulate"
SHELL = {"__init__.py", "cli.py", "pacing.py", "progress.py", "sinks.py"}
FORBIDDEN_IMPORTS = {"time", "os", "asyncio", "socket", "pathlib", "aiokafka", "faust",
                     "secrets", "subprocess", "numpy", "io", "sys", "uuid"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "open", "print"}


@pytest.mark.parametrize("module", sorted(p for p in PACKAGE.glob("*.py") if p.name not in SHELL),
                         ids=lambda p: p.name)
def test_generator_module_reads_no_clock_and_does_no_io(module: Path):
    tree = ast.parse(module.read_text())
    imported, called = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call):
            func = node.func
            called.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    assert not imported & FORBIDDEN_IMPORTS, f"imports {imported & FORBIDDEN_IMPORTS}"
    assert not called & FORBIDDEN_CALLS, f"calls {called & FORBIDDEN_CALLS}"


def test_randomness_comes_only_from_seeded_generators():
    for module in PACKAGE.glob("*.py"):
        if module.name in SHELL:
            continue
        text = module.read_text()
        assert "random.random(" not in text and "random.choice(" not in text, module.name
