"""The Kafka jars, fetched once from Maven Central into a cache directory.

``deploy/kafka/pom.xml`` names what the broker needs; Maven resolves it and copies the runtime
jars into ``<cache>/lib``. The copy goes to a scratch directory that is renamed into place only
when Maven succeeded, and a marker holds the pom's digest: a half-finished download is never
mistaken for a cache, and editing the pom (a new Kafka version) fetches again. A file lock
serialises concurrent fetches (two test sessions, or the demo beside the tests).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from pathlib import Path

from streams.errors import BrokerError, SetupError
from streams.kafka._lock import locked

FETCH_TIMEOUT_S = 900.0
"""Maven on a slow link needs a few minutes for ~45 MB; longer than this means it is stuck."""

_MARKER = ".pom-sha256"
_POM_NS = "{http://maven.apache.org/POM/4.0.0}"


def kafka_version(pom: Path) -> str:
    """The Kafka version the pom pins (its ``kafka.version`` property), for messages."""
    try:
        root = ET.parse(pom).getroot()
    except (OSError, ET.ParseError) as exc:
        raise SetupError(
            f"cannot read the Kafka pom {pom} ({exc}); it ships with ccpulse in deploy/kafka/ — "
            "restore it from git."
        ) from exc
    version = root.findtext(f"{_POM_NS}properties/{_POM_NS}kafka.version")
    return version.strip() if version else "unknown"


class JarCache:
    """``<cache_dir>/lib``: the broker's classpath, valid for one exact pom."""

    def __init__(self, cache_dir: Path, pom: Path) -> None:
        self.cache_dir = cache_dir
        self.pom = pom
        self.lib_dir = cache_dir / "lib"

    def is_complete(self) -> bool:
        """Whether ``lib`` holds a finished fetch of the current pom."""
        marker = self.lib_dir / _MARKER
        return (
            marker.is_file()
            and marker.read_text().strip() == self._pom_digest()
            and any(self.lib_dir.glob("*.jar"))
        )

    def fetch(self, mvn: Path, env: Mapping[str, str], progress: Callable[[str], None]) -> None:
        """Fill ``lib`` with Maven unless it is already complete; BrokerError if Maven fails."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with locked(self.cache_dir / ".fetch.lock"):
            if self.is_complete():
                return
            progress(
                f"Fetching Apache Kafka {kafka_version(self.pom)} from Maven Central into "
                f"{self.lib_dir} (once, about 45 MB)..."
            )
            scratch = self.cache_dir / "lib.partial"
            shutil.rmtree(scratch, ignore_errors=True)
            self._run_maven(mvn, env, scratch)
            if not any(scratch.glob("*.jar")):
                raise BrokerError(
                    f"Maven succeeded but copied no jars into {scratch}; check {self.pom} "
                    "(it must depend on org.apache.kafka:kafka_2.13)."
                )
            (scratch / _MARKER).write_text(self._pom_digest() + "\n")
            shutil.rmtree(self.lib_dir, ignore_errors=True)
            scratch.rename(self.lib_dir)

    def _run_maven(self, mvn: Path, env: Mapping[str, str], output_dir: Path) -> None:
        command = [
            str(mvn), "-B", "-q", "-f", str(self.pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={output_dir}",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                env=dict(env),
                timeout=FETCH_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(
                f"Maven did not finish fetching Kafka within {FETCH_TIMEOUT_S:g} s. Check the "
                "connection to repo.maven.apache.org and run `ccpulse kafka fetch` again."
            ) from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise BrokerError(
                f"Maven could not fetch the Kafka jars (exit {done.returncode}). Check the "
                "connection to repo.maven.apache.org (or the mirror/proxy in "
                f"~/.m2/settings.xml) and run `ccpulse kafka fetch` again. Maven said:\n{tail}"
            )

    def _pom_digest(self) -> str:
        return hashlib.sha256(self.pom.read_bytes()).hexdigest()
