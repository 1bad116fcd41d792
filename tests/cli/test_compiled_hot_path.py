"""The hot path compiled by mypyc (streams.compiled) gives exactly what its Python source gives.

``ccpulse replay`` runs over a simulated day of every event family, with bad lines of every
reason among them, once with the compiled copy and once with ``CCPULSE_PURE_PYTHON=1``: the
exposition and the problem report must be the same bytes. ``deploy/setup.sh`` (the first
step of ``make test``) builds the compiled copy, so the first run must be the compiled one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from streams import compiled
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre

START_MS = 1_795_338_000_000  # 2026-11-22T09:00Z

#: One line of each kind the compiled decode and validation turn away, and a duplicate.
BAD_LINES = [
    b"this line is not json",
    b"[1, 2]",
    b'{"event_id":"x1","occurred_at":"2026-11-22T09:00:00Z"}',
    b'{"event_id":"x2","type":7,"occurred_at":"2026-11-22T09:00:00Z"}',
    b'{"event_id":"x3","type":"call.teleported","occurred_at":"2026-11-22T09:00:00Z"}',
    b'{"event_id":"x4","type":"call.queued","occurred_at":"2026-11-22 09:00","call_id":"c",'
    b'"queue":"q"}',
    b'{"event_id":"x5","type":"call.queued","occurred_at":"2026-11-22T09:00:00Z",'
    b'"call_id":"","queue":"q"}',
    b'{"event_id":"' + b"x" * 300 + b'","type":"call.queued",'
    b'"occurred_at":"2026-11-22T09:00:00Z","call_id":"c6","queue":"q"}',
    b'{"event_id":"x7","type":"survey.responded","occurred_at":"2026-11-22T09:00:00Z",'
    b'"survey":"csat","score":9}',
    b'{"event_id":"x8","type":"call.queued","occurred_at":"2026-11-22T09:00:00.1234567+01:00",'
    b'"call_id":"c8","queue":"q"}',
]


#: Valid events whose JSON numbers are fractions or whole floats where the simulator sends
#: integers (a compiled variable declared ``int`` would refuse them at run time).
FRACTIONAL_LINES = [
    b'{"event_id":"f1","type":"qa.reviewed","occurred_at":"2026-11-22T09:30:00Z",'
    b'"categories":[{"name":"greeting","score":3.5,"min":0,"max":5,"weight":0.5},'
    b'{"name":"compliance","score":1.0,"min":0,"max":1,"weight":1.5,"critical":true}],'
    b'"queue":"support","channel":"voice","agent_id":"agent-7","contact_id":"call-1"}',
    b'{"event_id":"f2","type":"survey.responded","occurred_at":"2026-11-22T09:31:00Z",'
    b'"survey":"csat","score":4.0,"queue":"support","channel":"voice"}',
    b'{"event_id":"f3","type":"survey.responded","occurred_at":"2026-11-22T09:32:00Z",'
    b'"survey":"ces","score":6,"scale_max":7.0}',
]


def replay(path: Path, pure: bool) -> tuple[subprocess.CompletedProcess[bytes], str]:
    env = {k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}
    if pure:
        env[compiled.PURE_ENV] = "1"
    done = subprocess.run([sys.executable, "-m", "streams.cli", "replay", str(path)],
                          capture_output=True, timeout=300, check=False, env=env)
    status = subprocess.run([sys.executable, "-m", "streams.hot_path", "status"],
                            capture_output=True, timeout=60, check=True, env=env)
    return done, status.stdout.decode().strip()


def test_the_compiled_hot_path_gives_the_bytes_its_python_source_gives(tmp_path: Path):
    lines = [orjson.dumps(e) for e in generate(contact_centre(), seed=11, start_ms=START_MS,
                                               duration_ms=3 * 3_600_000)]
    types = {orjson.loads(line)["type"].partition(".")[0] for line in lines}
    assert {"call", "chat", "ticket", "agent", "survey", "customer"} <= types
    lines[100:100] = BAD_LINES
    lines[200:200] = FRACTIONAL_LINES
    call = next(line for line in lines[400:] if orjson.loads(line)["type"].startswith("call."))
    lines.insert(500, call)  # a duplicate
    path = tmp_path / "day.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    fast, fast_state = replay(path, pure=False)
    slow, slow_state = replay(path, pure=True)

    assert fast_state.startswith("hot path: compiled with mypyc"), (
        f"{fast_state}: make test builds it (deploy/setup.sh); "
        "build it with `.venv/bin/python -m streams.hot_path build`")
    assert slow_state == f"hot path: Python source ({compiled.PURE_ENV} is set)"
    assert fast.returncode == slow.returncode == 0, slow.stderr.decode()[-2000:]
    assert fast.stdout == slow.stdout
    assert fast.stderr == slow.stderr
    report = fast.stderr.decode()
    for reason in ("not_json", "not_object", "missing_field", "wrong_type", "unknown_type",
                   "bad_timestamp", "out_of_range"):
        assert f'cc_events_invalid_total{{reason="{reason}"' in fast.stdout.decode(), reason
    assert "is 300 characters long, more than" in report
    assert b'cc_events_duplicate_total{topic="cc.calls"} 1.0' in fast.stdout
    assert "f1" not in report and "f2" not in report and "f3" not in report  # all valid


def test_the_build_works_in_an_installed_package_beside_other_modules(tmp_path):
    """As in the container image: the package installed in a site-packages with no
    pyproject.toml, other top-level modules beside it (``mypy_extensions.py``, which mypy
    refuses to take for one of ours), the build run from elsewhere. It compiles a copy of the
    package under its own mypy configuration; the status then says compiled, and each
    module loads from its extension."""
    site = tmp_path / "site-packages"
    for name in compiled.source_digests(copy_to=site):
        assert (site / name).exists()
    import mypy_extensions  # the compile extra's: a module of another distribution

    shutil.copyfile(mypy_extensions.__file__, site / "mypy_extensions.py")
    schemas = compiled.PACKAGE_DIR.parent / "schemas"
    env = {**{k: v for k, v in os.environ.items() if k != compiled.PURE_ENV},
           "PYTHONPATH": str(site), "CCPULSE_SCHEMAS_DIR": str(schemas)}
    built = subprocess.run([sys.executable, "-m", "streams.hot_path", "build"], cwd="/",
                           env=env, capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    assert built.stdout.splitlines()[-1].startswith("hot path compiled with mypyc in ")
    assert not (site / "build").exists() and not list(site.glob("*.log"))
    status = subprocess.run([sys.executable, "-m", "streams.hot_path", "status"], cwd="/",
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == (
        f"hot path: compiled with mypyc ({len(compiled.MODULES)} modules, mypy 1.13.0)")
    where = subprocess.run(
        [sys.executable, "-c", "import streams.core.engine as e; print(e.__file__)"],
        cwd="/", env=env, capture_output=True, text=True, timeout=60, check=True)
    assert where.stdout.strip() == str(site / "streams" / "core" / f"engine{compiled.SUFFIX}")
