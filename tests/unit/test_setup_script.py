"""``deploy/setup.sh``: ``demo`` installs only what the demo needs, ``test`` adds the test tools,
and it never stops a program it did not start.

The script runs for real in a copy of the repository layout, against a PATH of recording
stand-ins (``apt-get``, ``systemctl``, ``pkill``, ``.venv/bin/python``...): what it would
install and stop is read from their logs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

RECORDER = """#!/bin/bash
echo "$(basename "$0") $*" >> "{log}"
"""

# systemctl is-active: prometheus-node-exporter runs before the install (someone else's);
# prometheus runs once apt-get has installed it (Debian starts what it installs).
SYSTEMCTL = """#!/bin/bash
echo "systemctl $*" >> "{log}"
if [ "$1" = is-active ]; then
  svc=${{@: -1}}
  [ "$svc" = prometheus-node-exporter ] && exit 0
  [ "$svc" = prometheus ] && [ -f "{installed}" ] && exit 0
  exit 3
fi
"""

APT_GET = """#!/bin/bash
echo "apt-get $*" >> "{log}"
[ "$1" = install ] && touch "{installed}"
exit 0
"""


#: What ``ccpulse kafka fetch`` prints on a first fetch: progress on stderr, the result on
#: stdout (streams.kafka.cli).
CCPULSE_SAYS = """echo "Fetching Apache Kafka 3.9.1 from Maven Central into x..." >&2
echo "Kafka jars are ready in x (92 jars)"
exit "${{CCPULSE_EXIT:-0}}"
"""

#: ``.venv/bin/python``: records, and fails the hot path's build when ``HOT_PATH_EXIT`` says.
PYTHON = RECORDER + """[ "$2" = streams.hot_path ] && echo "Error: no C compiler found" >&2 \\
  && exit "${{HOT_PATH_EXIT:-0}}"
exit 0
"""


def run_setup(tmp_path: Path, mode: str, env: dict[str, str] | None = None,
              check: bool = True, tools: tuple[str, ...] = (),
              as_user: bool = False) -> list[str]:
    """``tools``: more commands on the PATH, as recording stand-ins; ``as_user``: not root
    and no ``sudo``."""
    repo = tmp_path / "repo"
    (repo / "deploy").mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "setup.sh", repo / "deploy" / "setup.sh")
    (repo / "pyproject.toml").write_text("")
    bin_dir, log, installed = tmp_path / "bin", tmp_path / "calls.log", tmp_path / "installed"
    bin_dir.mkdir()
    (repo / ".venv" / "bin").mkdir(parents=True)
    stand_ins = {bin_dir / name: RECORDER
                 for name in ("pkill", "killall", "kill", *tools,
                              *(() if as_user else ("sudo",)))}
    if as_user:
        stand_ins[bin_dir / "id"] = "#!/bin/bash\necho 1000\n"
    stand_ins[bin_dir / "service"] = RECORDER + "exit 3\n"  # no SysV service runs
    stand_ins |= {bin_dir / "systemctl": SYSTEMCTL, bin_dir / "apt-get": APT_GET,
                  repo / ".venv" / "bin" / "python": PYTHON,
                  repo / ".venv" / "bin" / "ccpulse": RECORDER + CCPULSE_SAYS}
    for path, text in stand_ins.items():
        path.write_text(text.format(log=log, installed=installed))
        path.chmod(0o755)
    for name in ("bash", "dirname", "basename", "touch", "printf", "cat",
                 *(() if as_user else ("id",))):
        found = shutil.which(name)
        if found:
            (bin_dir / name).symlink_to(found)
    done = subprocess.run(["bash", str(repo / "deploy" / "setup.sh"), mode],
                          env={"PATH": str(bin_dir), "HOME": str(tmp_path), **(env or {})},
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode == 0) == check, done.stdout + done.stderr
    (tmp_path / "stdout.txt").write_text(done.stdout)
    return log.read_text().splitlines()


def installs(calls: list[str]) -> list[str]:
    return [c.split("--no-install-recommends ", 1)[1] for c in calls
            if c.startswith("apt-get install")]


@pytest.mark.skipif(os.name != "posix", reason="a bash script")
class TestSetup:
    def test_demo_installs_only_the_jdk_maven_and_ccpulse_itself(self, tmp_path: Path):
        calls = run_setup(tmp_path, "demo")
        assert installs(calls) == ["default-jre-headless maven gcc libc6-dev"]
        assert "python -m pip install -q --disable-pip-version-check -e .[compile]" in calls
        assert "python -m streams.hot_path build" in calls
        assert "ccpulse kafka fetch" in calls

    def test_a_machine_with_a_c_compiler_gets_none(self, tmp_path: Path):
        calls = run_setup(tmp_path, "demo", tools=("gcc",))
        assert installs(calls) == ["default-jre-headless maven"]

    def test_without_root_a_missing_c_compiler_is_not_fatal(self, tmp_path: Path):
        calls = run_setup(tmp_path, "demo", tools=("java", "mvn"), as_user=True)
        out = (tmp_path / "stdout.txt").read_text().splitlines()
        assert installs(calls) == []
        assert ("[setup] no root or sudo to install gcc libc6-dev: the hot path will not be "
                "compiled (ccpulse runs its Python source: slower, the same numbers)") in out
        assert out[-1] == "[setup] ready"

    def test_a_failed_hot_path_build_is_not_fatal(self, tmp_path: Path):
        calls = run_setup(tmp_path, "demo", env={"HOT_PATH_EXIT": "1"})
        out = (tmp_path / "stdout.txt").read_text().splitlines()
        assert "python -m streams.hot_path build" in calls
        assert "[setup] Error: no C compiler found" in out
        assert ("[setup] the hot path was not compiled: ccpulse runs its Python source "
                "(slower, the same numbers)") in out
        assert out[-1] == "[setup] ready"

    def test_test_adds_prometheus_alertmanager_chromium_and_the_test_extras(self,
                                                                             tmp_path: Path):
        calls = run_setup(tmp_path, "test")
        assert installs(calls) == ["default-jre-headless maven prometheus prometheus "
                                   "prometheus-alertmanager prometheus-alertmanager chromium "
                                   "gcc libc6-dev"]
        assert "python -m pip install -q --disable-pip-version-check -e .[test,compile]" in calls

    def test_stops_only_the_services_its_own_install_started(self, tmp_path: Path):
        calls = run_setup(tmp_path, "test")
        stops = [c for c in calls if " stop" in c or c.startswith(("pkill", "killall", "kill"))]
        assert stops == ["systemctl stop prometheus"]

    def test_its_lines_are_plain_text_when_not_on_a_terminal(self, tmp_path: Path):
        run_setup(tmp_path, "demo")  # output captured: a pipe, as in CI or a log file
        out = (tmp_path / "stdout.txt").read_text()
        assert "[setup] " in out and "\033" not in out and "\x1b" not in out

    def test_the_kafka_fetch_lines_are_setup_lines_too(self, tmp_path: Path):
        run_setup(tmp_path, "demo")
        out = (tmp_path / "stdout.txt").read_text().splitlines()
        assert "[setup] Fetching Apache Kafka 3.9.1 from Maven Central into x..." in out
        assert "[setup] Kafka jars are ready in x (92 jars)" in out
        assert all(line.startswith("[setup] ") for line in out), out

    def test_a_failed_kafka_fetch_fails_the_set_up(self, tmp_path: Path):
        run_setup(tmp_path, "demo", env={"CCPULSE_EXIT": "1"}, check=False)
        assert "[setup] ready" not in (tmp_path / "stdout.txt").read_text()
