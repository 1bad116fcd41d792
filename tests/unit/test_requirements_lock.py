"""deploy/docker/requirements.lock: the image's pins with hashes, current with constraints.txt.

Offline: the hashes themselves come from PyPI when lock_constraints.py writes the file; these
tests check that it pins exactly constraints.txt and the build tools, each with a hash, that
the check catches a stale lock, and that the Dockerfile installs from it with --require-hashes.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "docker" / "lock_constraints.py"
DIGEST = "0" * 63


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_constraints", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lock = load()


class TestCommittedLock:
    def test_is_current_with_constraints_txt(self, capsys):
        assert lock.main(["--check"]) == 0, capsys.readouterr().out

    def test_every_pin_has_sha256_hashes_and_the_build_tools_are_in_it(self):
        locked = lock.read_lock(lock.LOCK.read_text(encoding="utf-8"))
        assert {"faust-streaming", "aiokafka", "setuptools", "wheel"} <= locked.keys()
        for name, (version, hashes) in locked.items():
            assert hashes, f"{name}=={version} has no hash"
            assert all(len(h) == 64 for h in hashes)
        # arm64 builds faust-streaming from its sdist: more than its x86_64 wheel is listed
        assert len(locked["faust-streaming"][1]) > 1

    def test_the_dockerfile_installs_it_with_require_hashes_and_nothing_unhashed(self):
        text = (REPO / "Dockerfile").read_text(encoding="utf-8")
        assert "COPY deploy/docker/requirements.lock /src/requirements.lock" in text
        assert "pip install --no-deps --require-hashes -r /src/requirements.lock" in text
        installs = [line.rstrip(" \\").split("pip install", 1)[1].split()
                    for line in text.splitlines()
                    if "pip install" in line and not line.lstrip().startswith("#")]
        for args in installs:  # the lock with hashes, else only ccpulse's own source tree
            assert "--require-hashes" in args or [a for a in args if a[0] != "-"] == ["/src"]


    def test_the_builder_compiles_the_hot_path_with_the_locked_mypy_then_removes_it(self):
        # the compile extra's mypy, pinned with hashes, compiles the installed package
        # (tests/cli/test_compiled_hot_path.py builds one the same way); the runtime stage
        # copies the venv without mypy
        extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
            "optional-dependencies"]["compile"]
        locked = lock.read_lock(lock.LOCK.read_text(encoding="utf-8"))
        assert f"mypy=={locked['mypy'][0]}" in extra and lock.BUILD_TOOLS["mypy"] == (
            locked["mypy"][0])
        text = (REPO / "Dockerfile").read_text(encoding="utf-8")
        builder, runtime = text.split("AS runtime")
        step = builder[builder.index("RUN cd / \\"):]
        assert step.index("python -m streams.hot_path build") < step.index(
            "python -m streams.hot_path status | grep '^hot path: compiled with mypyc'") < (
            step.index("pip uninstall -y mypy"))
        assert builder.index("pip install --no-deps --no-build-isolation /src") < (
            builder.index("python -m streams.hot_path build"))
        assert "COPY --from=builder /opt/venv /opt/venv" in runtime
        # no source package where `python -m streams...` runs (WORKDIR /app): it would shadow
        # the installed, compiled one
        steps = [line for line in runtime.splitlines() if not line.lstrip().startswith("#")]
        assert "WORKDIR /app" in steps and not [s for s in steps if "/app/streams" in s]


class TestCheck:
    @pytest.fixture
    def constraints(self, tmp_path: Path) -> Path:
        path = tmp_path / "constraints.txt"
        path.write_text("# header\nOrJSON==3.13.0\naiokafka==0.14.0\n")
        return path

    def current(self, wanted: dict[str, str]) -> str:
        return lock.render({name: (version, [DIGEST + "a"]) for name, version in wanted.items()})

    def test_a_lock_rendered_from_the_pins_is_current(self, constraints):
        wanted = lock.pins(constraints)
        assert wanted["orjson"] == "3.13.0" and wanted["setuptools"] == lock.BUILD_TOOLS[
            "setuptools"]
        assert lock.problems(self.current(wanted), wanted) == []

    def test_a_changed_version_a_new_pin_and_a_dropped_pin_are_each_reported(self, constraints):
        text = self.current(lock.pins(constraints))
        constraints.write_text("orjson==3.14.0\nbcrypt==5.0.0\n")
        assert lock.problems(text, lock.pins(constraints)) == [
            "bcrypt==5.0.0 is not in the lock",
            "aiokafka is in the lock but not in constraints.txt",
            "the lock pins orjson==3.13.0, constraints.txt 3.14.0",
        ]

    def test_a_pin_without_a_hash_is_reported(self, constraints):
        wanted = lock.pins(constraints)
        text = self.current(wanted).replace(f"aiokafka==0.14.0 \\\n    --hash=sha256:{DIGEST}a",
                                            "aiokafka==0.14.0")
        assert lock.problems(text, wanted) == ["aiokafka==0.14.0 has no hash"]

    @pytest.mark.parametrize("filename, version", [
        ("orjson-3.13.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "3.13"),
        ("faust_streaming-0.15.3.tar.gz", "0.15.3"),
        ("orjson-3.13.0.zip.asc", None),
    ], ids=["wheel", "sdist", "not-a-distribution"])
    def test_the_version_of_a_file_name(self, filename, version):
        assert lock._version_of(filename) == version
