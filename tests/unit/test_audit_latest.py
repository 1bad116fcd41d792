"""deploy/docker/audit_latest.py, ``make audit``'s fallback: a verdict only where PyPI's project
API can give one (the pin is the latest release), from a recorded answer instead of PyPI."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "audit_latest.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_latest", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = load()
ADVISORY = {"id": "GHSA-xxxx-yyyy-zzzz", "fixed_in": ["2.0.1"], "withdrawn": None}


def project(latest: str, *vulnerabilities: dict) -> dict:
    return {"info": {"version": latest}, "vulnerabilities": list(vulnerabilities)}


@pytest.mark.parametrize("pinned, answer, kind, line", [
    ("2.0.0", project("2.0.0"), "ok", "lib==2.0.0: ok"),
    ("2.0.0", project("2.0.0", ADVISORY), "VULNERABLE",
     "lib==2.0.0: VULNERABLE GHSA-xxxx-yyyy-zzzz (fixed in 2.0.1)"),
    ("2.0.0", project("2.0.0", {**ADVISORY, "fixed_in": []}), "VULNERABLE",
     "lib==2.0.0: VULNERABLE GHSA-xxxx-yyyy-zzzz (fixed in nothing yet)"),
    ("2.0.0", project("2.0.0", {**ADVISORY, "withdrawn": "2026-01-01T00:00:00Z"}), "ok",
     "lib==2.0.0: ok"),
    ("1.9.0", project("2.0.0"), "unaudited", "lib==1.9.0: unaudited (latest is 2.0.0)"),
    ("1.9.0", project("2.0.0", ADVISORY), "unaudited",
     "lib==1.9.0: unaudited (latest is 2.0.0; known for 2.0.0: GHSA-xxxx-yyyy-zzzz "
     "(fixed in 2.0.1))"),
], ids=["latest-clean", "latest-vulnerable", "no-fix-yet", "withdrawn", "behind",
        "behind-latest-vulnerable"])
def test_verdict_of_one_pin(pinned, answer, kind, line):
    assert audit.verdict("lib", pinned, answer) == (kind, line)


@pytest.mark.parametrize("answers, code", [
    ({"a": project("1.0"), "b": project("2.0")}, 0),
    ({"a": project("1.0"), "b": project("2.1")}, 2),
    ({"a": project("1.0", ADVISORY), "b": project("2.1")}, 1),
], ids=["all-clean", "one-unaudited", "vulnerable-wins"])
def test_exit_code_and_summary(answers, code):
    out = io.StringIO()
    assert audit.audit({"a": "1.0", "b": "2.0"}, answers.__getitem__, out) == code
    assert out.getvalue().splitlines()[-1].endswith("of 2 pins")
