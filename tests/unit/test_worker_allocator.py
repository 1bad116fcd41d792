"""The worker's glibc malloc settings (streams/worker/allocator.py) are where it is launched:
the container image and the demo, and set by the worker itself (mallopt) when it was started
without them; the environment's own values win."""

from __future__ import annotations

import re
from pathlib import Path

from streams.worker.allocator import MALLOC_ENV, set_in_process, worker_environment

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_are_glibc_s_tunables_in_bytes():
    assert MALLOC_ENV == {"MALLOC_MMAP_THRESHOLD_": "131072",
                          "MALLOC_TRIM_THRESHOLD_": "131072"}


def test_the_worker_gets_them_beside_its_environment():
    env = worker_environment({"PATH": "/bin", "CCPULSE_BROKER": "b:1"})
    assert env == {"PATH": "/bin", "CCPULSE_BROKER": "b:1", **MALLOC_ENV}


def test_a_value_the_environment_sets_wins():
    env = worker_environment({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert env["MALLOC_MMAP_THRESHOLD_"] == "65536"
    assert env["MALLOC_TRIM_THRESHOLD_"] == "131072"


def test_the_container_image_sets_them():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, value in MALLOC_ENV.items():
        assert re.search(rf"^\s+{name}={value}\b", dockerfile, re.M), name


def test_the_demo_starts_the_worker_with_them():
    demo = (ROOT / "streams" / "demo.py").read_text()
    assert "worker_environment(env)" in demo


def test_a_worker_started_without_them_sets_them_itself_with_mallopt():
    assert set_in_process({}) == {"MALLOC_MMAP_THRESHOLD_": 131072,
                                  "MALLOC_TRIM_THRESHOLD_": 131072}


def test_a_worker_leaves_what_its_environment_set_to_glibc():
    assert set_in_process({"MALLOC_MMAP_THRESHOLD_": "65536"}) == {
        "MALLOC_TRIM_THRESHOLD_": 131072}
    assert set_in_process(dict(MALLOC_ENV)) == {}


def test_ccpulse_worker_sets_them_as_it_starts():
    main = (ROOT / "streams" / "worker" / "main.py").read_text()
    assert "set_in_process(os.environ)" in main
