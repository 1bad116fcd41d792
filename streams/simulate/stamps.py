"""The envelope of every simulated event: deterministic ids and RFC 3339 millisecond stamps.

Ids come from their own seeded generator, keyed by the seed *and* the start time: the same
(seed, start) always gives the same events, while two runs started at different times never
share an ``event_id`` or a contact id (a second demo run must not be de-duplicated away by the
engine, contract §2). Keeping ids off the model's generator also means the simulated traffic for
a seed does not change if the id format does.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

_UUID4_CLEAR = ~((0xF << 76) | (0x3 << 62))
_UUID4_SET = (0x4 << 76) | (0x2 << 62)


class Stamper:
    """Builds envelopes: ``event_id``, ``type``, ``occurred_at``, ``source``."""

    def __init__(self, seed: int, start_ms: int, source: str) -> None:
        self._ids = random.Random(f"ccpulse-simulator:{seed}:{start_ms}")
        self._source = source
        self._day = -1
        self._day_text = ""
        #: Short per-run tag in contact and ticket ids (``call-3fa2c1-0000042``).
        self.run_tag = f"{self._ids.getrandbits(24):06x}"

    def envelope(self, event_type: str, occurred_ms: int) -> dict[str, Any]:
        """A new event dict with its envelope fields first (readable JSON lines)."""
        return {
            "event_id": self.event_id(),
            "type": event_type,
            "occurred_at": self.timestamp(occurred_ms),
            "source": self._source,
        }

    def event_id(self) -> str:
        """A random (version 4) UUID drawn from the id generator.

        Formatted by hand: ``str(uuid.UUID(...))`` was a third of the generator's time.
        """
        bits = (self._ids.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def timestamp(self, epoch_ms: int) -> str:
        """``2026-11-22T09:15:02.120Z``; the date's text is cached (a run spans few days)."""
        day, millis_of_day = divmod(epoch_ms, 86_400_000)
        if day != self._day:
            self._day = day
            self._day_text = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%dT")
        seconds, millis = divmod(millis_of_day, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"{self._day_text}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def rfc3339_ms(epoch_ms: int) -> str:
    """``2026-11-22T09:15:02.120Z`` for epoch milliseconds (uncached: for messages)."""
    second, millis = divmod(epoch_ms, 1000)
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
