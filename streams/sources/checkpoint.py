"""Where a connector is: the reader's position and the mapper's memory, saved atomically.

A checkpoint is written only after the sink has confirmed everything before it (Kafka
acknowledged, the file flushed), so a crash re-reads at most what came after the last
checkpoint; those events carry the same ids and the engine drops them (at-least-once in,
exactly-once counted). The file is JSON, replaced by rename, so it is never half written.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from streams.errors import CcpulseError

#: Bump when the layout changes; an older checkpoint is ignored (the input is re-read, and the
#: engine drops what it has seen).
FORMAT = 1


class CheckpointStore:
    """One connector's checkpoint file: ``<directory>/<system>-<digest of input+target>.json``."""

    def __init__(self, directory: str | os.PathLike[str], system: str, identity: str,
                 target: str) -> None:
        digest = hashlib.blake2b(f"{identity}\x1f{target}".encode(), digest_size=8).hexdigest()
        self.path = Path(directory) / f"{system}-{digest}.json"
        self._identity = identity
        self._target = target

    def load(self) -> dict[str, Any] | None:
        """The saved ``{"position", "mapper"}``, or None when there is none (or it is for
        another input, or of an older format)."""
        try:
            saved = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError):
            return None  # unreadable: start again; duplicates are dropped downstream
        if not isinstance(saved, dict) or saved.get("format") != FORMAT or \
                saved.get("input") != self._identity or saved.get("target") != self._target:
            return None
        return saved

    def save(self, position: Mapping[str, Any] | None, mapper_state: Mapping[str, Any],
             counts: Mapping[str, int]) -> None:
        """Replace the checkpoint (write a temporary file, fsync, rename)."""
        body = orjson.dumps({"format": FORMAT, "input": self._identity, "target": self._target,
                             "saved_at": time.time(), "position": position,
                             "mapper": mapper_state, "counts": counts})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            with temporary.open("wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            raise CcpulseError(f"cannot write the connector checkpoint {str(self.path)!r}: "
                               f"{exc.strerror}; set --checkpoint-dir to a writable "
                               "directory") from None

    def clear(self) -> None:
        """Forget the checkpoint (``--from-start``)."""
        self.path.unlink(missing_ok=True)
