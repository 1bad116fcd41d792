"""Where a connector's events go: Kafka topics (through :class:`~streams.publish.Publisher`)
or a JSON-lines file for ``ccpulse replay``.

``flush()`` returns only once everything sent before it is durable (Kafka acknowledged with
``acks=all``; the file written and fsynced): the connector saves its checkpoint after it.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Protocol

import orjson

from streams.errors import CcpulseError
from streams.publish import Publisher


class Sink(Protocol):
    """An async destination for events."""

    label: str

    async def send(self, event: dict[str, Any]) -> None: ...

    async def flush(self) -> None: ...


class KafkaSink:
    """Each event to its type's topic, keyed by its entity id (docs/contract.md §1)."""

    def __init__(self, publisher: Publisher, broker: str) -> None:
        self._publisher = publisher
        prefix = publisher.topic_prefix
        self.label = f"Kafka {broker}" + (f" (topic prefix {prefix!r})" if prefix else "")

    async def send(self, event: dict[str, Any]) -> None:
        await self._publisher.send_event(event)

    async def flush(self) -> None:
        await self._publisher.flush()


class FileSink:
    """JSON lines appended to an open binary file."""

    def __init__(self, out: BinaryIO, label: str) -> None:
        self._out = out
        self.label = label

    async def send(self, event: dict[str, Any]) -> None:
        self._out.write(orjson.dumps(event) + b"\n")

    async def flush(self) -> None:
        try:
            self._out.flush()
            fileno = self._out.fileno() if hasattr(self._out, "name") else -1
            if fileno > 2:
                os.fsync(fileno)
        except OSError as exc:
            raise CcpulseError(f"cannot write {self.label}: {exc.strerror}") from None
