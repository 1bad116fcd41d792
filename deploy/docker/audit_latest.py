"""Known vulnerabilities of the image's pins from PyPI's project JSON: ``make audit``'s fallback.

pip-audit asks PyPI's per-release JSON API (``/pypi/NAME/VERSION/json``) about each pin. Where
only the project API (``/pypi/NAME/json``) is reachable, as behind some proxies, this script
reads that instead: it answers the ``vulnerabilities`` of the project's **latest** release
only, so a pin that is the latest release gets a verdict and a pin behind it does not.

    .venv/bin/python deploy/docker/audit_latest.py   # exit 0 clean, 1 vulnerable, 2 unaudited

Each line: ``name==version`` and ``ok``, ``VULNERABLE`` (ids, fixed-in versions) or
``unaudited`` (the latest release, and the ids known for it). Withdrawn advisories are ignored.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lock_constraints import LOCK, read_lock

PROJECT_API = "https://pypi.org/pypi/{name}/json"
OK, VULNERABLE, UNAUDITED = "ok", "VULNERABLE", "unaudited"


def project_json(name: str) -> dict[str, Any]:
    with urllib.request.urlopen(PROJECT_API.format(name=name), timeout=60) as response:
        return json.load(response)


def verdict(name: str, version: str, project: dict[str, Any]) -> tuple[str, str]:
    """``(OK | VULNERABLE | UNAUDITED, line)`` for one pin, from its project's JSON."""
    latest = project["info"]["version"]
    known = [v for v in project.get("vulnerabilities") or [] if not v.get("withdrawn")]
    ids = ", ".join(f"{v['id']} (fixed in {', '.join(v.get('fixed_in') or []) or 'nothing yet'})"
                    for v in known)
    pin = f"{name}=={version}"
    if latest != version:
        also = f"; known for {latest}: {ids}" if ids else ""
        return UNAUDITED, f"{pin}: unaudited (latest is {latest}{also})"
    if known:
        return VULNERABLE, f"{pin}: VULNERABLE {ids}"
    return OK, f"{pin}: ok"


def audit(pins: dict[str, str], fetch: Callable[[str], dict[str, Any]] = project_json,
          out: Any = sys.stdout) -> int:
    counts = {OK: 0, VULNERABLE: 0, UNAUDITED: 0}
    for name in sorted(pins):
        kind, line = verdict(name, pins[name], fetch(name))
        counts[kind] += 1
        print(line, file=out)
    print(f"audit: {counts[OK]} ok · {counts[VULNERABLE]} vulnerable · "
          f"{counts[UNAUDITED]} unaudited (not the latest release) of {len(pins)} pins",
          file=out)
    return 1 if counts[VULNERABLE] else 2 if counts[UNAUDITED] else 0


def main() -> int:
    locked = read_lock(LOCK.read_text(encoding="utf-8"))
    return audit({name: version for name, (version, _) in locked.items()})


if __name__ == "__main__":
    sys.exit(main())
