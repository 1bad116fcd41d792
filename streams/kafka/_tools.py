"""Finding the two external tools of the local broker: Java 17+ runs it, Maven fetches it.

Both are looked up in an explicit environment mapping (by default ``os.environ``), not the
ambient one, so that a test can hand in ``PATH=<empty dir>`` and see exactly the error a user
on a fresh machine would see. The errors say which Debian package to install, because
``deploy/setup.sh`` installs exactly those.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from streams.errors import SetupError

MIN_JAVA_MAJOR = 17
"""Kafka 4.x brokers need Java 17 (KIP-1013)."""

_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def parse_java_major(version_text: str) -> int | None:
    """The major version in ``java -version`` output: ``"17.0.15"`` → 17, ``"1.8.0_392"`` → 8."""
    match = _JAVA_VERSION.search(version_text)
    if match is None:
        return None
    first = int(match.group(1))
    if first == 1 and match.group(2) is not None:
        return int(match.group(2))
    return first


def find_java(env: Mapping[str, str]) -> Path:
    """The ``java`` to run Kafka with — ``$JAVA_HOME/bin/java`` first, as Kafka's scripts do.

    Raises SetupError when there is none or it is older than Java 17.
    """
    java_home = env.get("JAVA_HOME")
    home_java = Path(java_home, "bin", "java") if java_home else None
    if home_java is not None and home_java.is_file():
        java: str | None = str(home_java)
    else:
        java = shutil.which("java", path=env.get("PATH", ""))
    if java is None:
        raise SetupError(
            f"Java {MIN_JAVA_MAJOR} or newer is needed to run the local Kafka broker, but no "
            "`java` was found on PATH (nor in JAVA_HOME). Install it, e.g. "
            "`sudo apt-get install default-jre-headless` on Debian/Ubuntu, and run again."
        )
    try:
        probe = subprocess.run(
            [java, "-version"],
            capture_output=True,
            text=True,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(
            f"{java} could not be run ({exc}). Reinstall Java {MIN_JAVA_MAJOR}+, e.g. "
            "`sudo apt-get install default-jre-headless`, and run again."
        ) from exc
    output = probe.stderr + probe.stdout
    major = parse_java_major(output)
    if major is None:
        first_line = output.strip().splitlines()[0] if output.strip() else "nothing"
        raise SetupError(
            f"could not tell the version of {java}: `java -version` printed {first_line!r}. "
            f"Install Java {MIN_JAVA_MAJOR}+, e.g. `sudo apt-get install default-jre-headless`, "
            "or set JAVA_HOME to one."
        )
    if major < MIN_JAVA_MAJOR:
        raise SetupError(
            f"Kafka 4 needs Java {MIN_JAVA_MAJOR} or newer, but {java} is Java {major}. Install "
            f"a newer one (`sudo apt-get install openjdk-{MIN_JAVA_MAJOR}-jre-headless` or "
            "`default-jre-headless`) and put it first on PATH or set JAVA_HOME to it."
        )
    return Path(java)


def find_maven(env: Mapping[str, str]) -> Path:
    """The ``mvn`` that fetches the Kafka jars; only needed until they are cached."""
    mvn = shutil.which("mvn", path=env.get("PATH", ""))
    if mvn is None:
        raise SetupError(
            "Maven is needed once to fetch the Kafka jars from Maven Central, but `mvn` was not "
            "found on PATH. Install it with `sudo apt-get install maven` and run again."
        )
    return Path(mvn)
