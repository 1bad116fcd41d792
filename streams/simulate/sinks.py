"""Where simulated events go: a JSON-lines file, or Kafka topics through the publisher.

Both take ``(occurred_ms, event)`` pairs and a per-event callback (the progress line), and
return how many events they wrote.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import BinaryIO

import orjson

from streams.publish import Publisher
from streams.simulate.world import TimedEvent

#: Lines buffered before one write call (big writes; the file object buffers too).
WRITE_BATCH = 1024


def _ignore(occurred_ms: int) -> None:
    """Default per-event callback: nothing to report."""


def write_jsonl(events: Iterable[TimedEvent], out: BinaryIO,
                on_event: Callable[[int], None] = _ignore) -> int:
    """Write each event as one compact JSON line; return the number written."""
    dumps = orjson.dumps
    lines: list[bytes] = []
    count = 0
    for occurred_ms, event in events:
        lines.append(dumps(event))
        on_event(occurred_ms)
        count += 1
        if len(lines) >= WRITE_BATCH:
            out.write(b"\n".join(lines) + b"\n")
            lines.clear()
    if lines:
        out.write(b"\n".join(lines) + b"\n")
    out.flush()
    return count


async def send_to_kafka(events: AsyncIterable[TimedEvent], publisher: Publisher,
                        on_event: Callable[[int], None] = _ignore) -> int:
    """Send each event to its type's topic, keyed by its entity id; return the number sent."""
    count = 0
    async for occurred_ms, event in events:
        await publisher.send_event(event)
        on_event(occurred_ms)
        count += 1
    return count
