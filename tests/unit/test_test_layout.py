"""The test tree's own rules: pytest imports test modules by basename (no packages)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_and_helper_has_a_basename_of_its_own() -> None:
    # two files of one name in two folders stop the whole run at collection
    # ("import file mismatch"); a unit test and its integration test need different names
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name not in ("conftest.py", "__init__.py"):
            by_name[path.name].append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}
