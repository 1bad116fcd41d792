"""Dead letters: a bounded buffer in front of the dead-letter topic, retried until delivered.

An invalid event's dead letter is put here by the ingest step (``Pipeline.handle_batch``)
before the event's offset is acknowledged, and :meth:`DeadLetters.run` sends the buffer to
Kafka in order, waiting for each acknowledgement. A letter leaves the buffer only when Kafka
has acknowledged it: a failed send (the topic missing, its partitions without a leader or
without enough in-sync replicas, a producer batch expired after its timeout) is sent again
after a backoff, for as long as it takes. So:

* **Nothing is lost.** Before each offset commit the worker waits until every letter put so
  far is delivered (:meth:`DeadLetters.delivered`), so an offset is never committed past an
  invalid event whose letter is not on the topic yet; a crash meanwhile re-reads the event from
  the last commit and dead-letters it again. A letter is delivered **at least once** (exactly
  once unless a send that Kafka wrote is reported failed, or the worker crashes after a letter
  is written and before the commit).
* **Valid events keep flowing** while at most ``capacity`` letters wait; once the buffer is
  full, :meth:`DeadLetters.put` waits for room, which stops the fetch loop (back-pressure: the
  lag grows, and ``/readyz`` turns ``consuming`` false after ``[health] stall_seconds``).
  Commits wait for the delivery meanwhile, so after ``broker_commit_every`` acknowledged events
  the fetch loop waits on its commit as well.

Letters go through a producer of their own (:class:`LetterProducer`), not Faust's: a batch
aiokafka holds for a partition without a leader (the topic deleted after the producer learned
it) makes aiokafka's sender request metadata again as soon as each answer arrives, with no
backoff, until the batch expires — with Faust's 20-minute producer timeout, a worker waiting
for its dead-letter topic spent half a core on metadata requests. Here batches expire after
:data:`REQUEST_TIMEOUT_S` and the retry waits its backoff; and the commits' producer flush
never waits for letters.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streams.core.metrics import Family, new_family

log = logging.getLogger("ccpulse.worker")

#: Letters that may wait for the dead-letter topic before the fetch loop waits for room.
CAPACITY = 10_000
#: Letters handed to the producer at once (each is then awaited, in order).
WINDOW = 500
#: Backoff between two attempts after a failure: doubled from the first to the last.
BACKOFF_S = (0.5, 30.0)
#: How long the letter producer waits for a topic's metadata, or keeps a batch it cannot send.
REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Letter:
    """One message for the dead-letter topic."""

    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]


#: ``send(letter)`` queues the letter on the producer and returns the future of its delivery
#: (aiokafka's ``producer.send``); either may raise.
Send = Callable[[Letter], Awaitable[Awaitable[Any]]]


class DeadLetters:
    """The buffer and its sender (see the module docstring)."""

    def __init__(self, send: Send, capacity: int = CAPACITY, window: int = WINDOW,
                 backoff_s: tuple[float, float] = BACKOFF_S,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        if capacity < 1 or window < 1:
            raise ValueError("capacity and window must be at least 1")
        self._send = send
        self.capacity = capacity
        self.window = window
        self.backoff_s = backoff_s
        self._sleep = sleep
        #: Waiting letters by sequence number, in the order they were put.
        self._pending: dict[int, Letter] = {}
        self._next = 0
        self._changed: asyncio.Condition | None = None
        self.delivered_count = 0
        self.failed_attempts = 0

    @property
    def pending(self) -> int:
        """How many letters wait for Kafka's acknowledgement."""
        return len(self._pending)

    def family(self) -> Family:
        """``cc_dead_letters_pending``: :attr:`pending`, for ``/metrics``."""
        family = new_family("cc_dead_letters_pending")
        family.samples[()] = self.pending
        return family

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made in the running loop
            self._changed = asyncio.Condition()
        return self._changed

    async def put(self, letter: Letter) -> int:
        """Buffer ``letter``, waiting for room while the buffer is full; returns its number."""
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: len(self._pending) < self.capacity)
            number = self._next
            self._next += 1
            self._pending[number] = letter
            changed.notify_all()
        return number

    async def delivered(self, upto: int | None = None) -> None:
        """Return once every letter up to number ``upto`` (default: every letter put so far)
        is acknowledged by Kafka."""
        last = self._next - 1 if upto is None else upto
        changed = self._condition()
        async with changed:
            await changed.wait_for(
                lambda: not self._pending or next(iter(self._pending)) > last)

    async def run(self) -> None:
        """Send the buffer for ever: up to ``window`` letters at a time, each awaited; what
        failed stays at the head of the buffer and is sent again after a backoff."""
        changed = self._condition()
        delay = self.backoff_s[0]
        while True:
            async with changed:
                await changed.wait_for(lambda: bool(self._pending))
                batch = list(itertools.islice(self._pending.items(), self.window))
            error = await self._attempt(batch)
            async with changed:
                changed.notify_all()
            if error is None:
                delay = self.backoff_s[0]
                continue
            self.failed_attempts += 1
            log.warning("dead-letter topic: %d letters wait, retrying in %.1f s (%s: %s)",
                        len(self._pending), delay, type(error).__name__, error)
            await self._sleep(delay)
            delay = min(delay * 2, self.backoff_s[1])

    async def _attempt(self, batch: list[tuple[int, Letter]]) -> BaseException | None:
        """Send ``batch`` and drop what Kafka acknowledged; the first error, if any."""
        error: BaseException | None = None
        queued: list[tuple[int, Awaitable[Any]]] = []
        for number, letter in batch:
            try:
                queued.append((number, await self._send(letter)))
            except Exception as exc:  # not even queued: the rest waits for the next attempt
                error = exc
                break
        for number, future in queued:
            try:
                await future
            except Exception as exc:
                error = error or exc
                continue
            del self._pending[number]
            self.delivered_count += 1
        return error


class LetterProducer:
    """An aiokafka producer for the dead-letter topic only (``acks=all``, batches kept at most
    :data:`REQUEST_TIMEOUT_S`): started on first use, and afresh after a failed start."""

    def __init__(self, bootstrap: str, topic: str, max_request_size: int,
                 security_kwargs: Mapping[str, Any] | None = None,
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        """``max_request_size``: the largest letter sent (the topic's ``max.message.bytes``:
        a letter is a source message, as large as its topic allows, plus headers)."""
        self.bootstrap = bootstrap
        self.topic = topic
        self.max_request_size = max_request_size
        self.security_kwargs = dict(security_kwargs or {})
        self.request_timeout_ms = int(request_timeout_s * 1000)
        self._producer: Any = None

    async def send(self, letter: Letter) -> Awaitable[Any]:
        """Queue ``letter``; the future of its delivery (see :data:`Send`)."""
        if self._producer is None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", client_id="ccpulse-deadletter",
                request_timeout_ms=self.request_timeout_ms,
                max_request_size=self.max_request_size, **self.security_kwargs)
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        future: Awaitable[Any] = await self._producer.send(
            self.topic, letter.value, key=letter.key, headers=list(letter.headers))
        return future

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop the producer; letters it still holds are not needed (they were not
        acknowledged, so no offset was committed past them)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout_s)
            except Exception:  # the broker is gone, or the stop took too long
                log.debug("dead-letter producer did not stop cleanly", exc_info=True)
