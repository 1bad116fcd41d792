"""The worker's dead-letter buffer (``streams.worker.deadletter``): every letter is retried until
Kafka acknowledges it, a full buffer makes ``put`` wait, and a commit waits for the letters put
before it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from streams.worker.checkpoint import flush_before_commit
from streams.worker.deadletter import DeadLetters, Letter


class FlakyTopic:
    """A producer's ``send`` to a dead-letter topic that fails while ``down`` is set: the
    delivery future fails (a batch that expired, NOT_ENOUGH_REPLICAS), or with ``refuse`` the
    send itself raises (no metadata, producer not started)."""

    def __init__(self) -> None:
        self.down = False
        self.refuse = False
        self.attempts = 0
        self.written: list[bytes] = []

    async def send(self, letter: Letter) -> Any:
        self.attempts += 1
        if self.refuse:
            raise RuntimeError("producer not ready")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.down:
            future.set_exception(TimeoutError("batch expired"))
        else:
            self.written.append(letter.value)
            future.set_result(None)
        return future


def letter(n: int) -> Letter:
    return Letter(key=None, value=f"bad-{n}".encode(), headers=[("ccpulse.reason", b"x")])


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0.001)


async def until(condition: Any, what: str) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def test_a_letter_whose_delivery_fails_is_retried_until_delivered_and_never_dropped():
    async def scenario() -> None:
        topic = FlakyTopic()
        topic.down = True
        letters = DeadLetters(topic.send, sleep=no_sleep)
        sender = asyncio.create_task(letters.run())
        await letters.put(letter(1))
        await letters.put(letter(2))
        await until(lambda: topic.attempts >= 10, "several failed attempts")
        assert letters.pending == 2 and topic.written == []
        waiting = asyncio.create_task(letters.delivered())
        await asyncio.sleep(0.01)
        assert not waiting.done(), "delivered() returned while letters wait"
        topic.down = False
        await asyncio.wait_for(waiting, 2)
        assert topic.written == [b"bad-1", b"bad-2"]
        assert letters.pending == 0 and letters.delivered_count == 2
        assert letters.failed_attempts >= 5
        sender.cancel()

    asyncio.run(scenario())


def test_a_send_that_raises_is_retried_too():
    async def scenario() -> None:
        topic = FlakyTopic()
        topic.refuse = True
        letters = DeadLetters(topic.send, sleep=no_sleep)
        sender = asyncio.create_task(letters.run())
        await letters.put(letter(1))
        await until(lambda: topic.attempts >= 3, "retries")
        topic.refuse = False
        await asyncio.wait_for(letters.delivered(), 2)
        assert topic.written == [b"bad-1"]
        sender.cancel()

    asyncio.run(scenario())


def test_a_full_buffer_makes_put_wait_until_letters_are_delivered():
    async def scenario() -> None:
        topic = FlakyTopic()
        topic.down = True
        letters = DeadLetters(topic.send, capacity=3, window=2, sleep=no_sleep)
        sender = asyncio.create_task(letters.run())
        for n in range(3):
            await asyncio.wait_for(letters.put(letter(n)), 1)  # room: no wait
        fourth = asyncio.create_task(letters.put(letter(3)))
        await asyncio.sleep(0.02)
        assert not fourth.done(), "put did not wait with the buffer full"
        assert letters.pending == 3
        topic.down = False
        await asyncio.wait_for(fourth, 2)
        await asyncio.wait_for(letters.delivered(), 2)
        assert sorted(topic.written) == [b"bad-0", b"bad-1", b"bad-2", b"bad-3"]
        sender.cancel()

    asyncio.run(scenario())


def test_the_pending_gauge_counts_the_letters_waiting_and_drops_to_zero_once_delivered():
    def gauge(letters: DeadLetters) -> Any:
        family = letters.family()
        assert (family.name, family.kind, family.labels) == ("cc_dead_letters_pending",
                                                              "gauge", ())
        return family.samples

    async def scenario() -> None:
        topic = FlakyTopic()
        topic.down = True
        letters = DeadLetters(topic.send, capacity=10, window=2, sleep=no_sleep)
        assert gauge(letters) == {(): 0}
        sender = asyncio.create_task(letters.run())
        for n in range(3):
            await letters.put(letter(n))
        await until(lambda: topic.attempts >= 3, "the topic to refuse a few sends")
        assert gauge(letters) == {(): 3}
        topic.down = False
        await asyncio.wait_for(letters.delivered(), 2)
        assert gauge(letters) == {(): 0}
        sender.cancel()

    asyncio.run(scenario())


def test_delivered_waits_only_for_the_letters_put_before_it():
    async def scenario() -> None:
        topic = FlakyTopic()
        letters = DeadLetters(topic.send, sleep=no_sleep)
        first = await letters.put(letter(1))
        # nothing sends yet: the first letter waits, so delivered(first) waits
        waiting = asyncio.create_task(letters.delivered(first))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        sender = asyncio.create_task(letters.run())
        await asyncio.wait_for(waiting, 2)
        topic.down = True
        later = await letters.put(letter(2))  # stuck, but after the first: no wait
        await asyncio.wait_for(letters.delivered(first), 1)
        assert later > first and letters.pending == 1
        sender.cancel()

    asyncio.run(scenario())


def test_no_offset_is_committed_while_a_dead_letter_put_before_the_commit_waits():
    """The worker's wiring: ``flush_before_commit`` with the dead letters delivered first."""

    class Consumer:
        def __init__(self) -> None:
            self.committed: list[Any] = []

        async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True
                                  ) -> bool:
            self.committed.append(offsets)
            return True

    async def scenario() -> None:
        topic = FlakyTopic()
        topic.down = True
        letters = DeadLetters(topic.send, sleep=no_sleep)
        sender = asyncio.create_task(letters.run())
        consumer = Consumer()

        async def before_commit() -> int:
            await letters.delivered()
            return 0

        flush_before_commit(consumer, before_commit)
        await letters.put(letter(1))
        commit = asyncio.create_task(consumer._commit_offsets({"tp": 8}))
        await asyncio.sleep(0.05)
        assert consumer.committed == [] and not commit.done()
        topic.down = False
        assert await asyncio.wait_for(commit, 2) is True
        assert consumer.committed == [{"tp": 8}] and topic.written == [b"bad-1"]
        sender.cancel()

    asyncio.run(scenario())


def test_capacity_and_window_must_be_positive():
    with pytest.raises(ValueError):
        DeadLetters(FlakyTopic().send, capacity=0)


def test_the_letter_producer_is_its_own_short_lived_batches_large_enough_for_any_letter(
        monkeypatch):
    """Letters go through a producer of their own whose batches expire after seconds (not
    Faust's 20 minutes, during which aiokafka asks for metadata without pause) and whose
    request size fits the largest letter; a failed start is retried at the next send."""
    import aiokafka

    from streams.worker.deadletter import REQUEST_TIMEOUT_S, LetterProducer

    made: list[dict[str, Any]] = []
    sent: list[tuple[Any, ...]] = []
    fail_start = [True]

    class Producer:
        def __init__(self, **options: Any) -> None:
            made.append(options)

        async def start(self) -> None:
            if fail_start[0]:
                fail_start[0] = False
                raise ConnectionError("no broker")

        async def stop(self) -> None:
            pass

        async def send(self, topic: str, value: bytes, *, key: Any, headers: Any) -> str:
            sent.append((topic, value, key, headers))
            return "future"

    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", Producer)

    async def scenario() -> None:
        producer = LetterProducer("k:9092", "p.cc.deadletter", 9_000_000,
                                  {"security_protocol": "SSL"})
        with pytest.raises(ConnectionError):
            await producer.send(letter(1))
        assert await producer.send(letter(1)) == "future"
        assert await producer.send(letter(2)) == "future"
        await producer.close()

    asyncio.run(scenario())
    assert len(made) == 2  # the failed start, then one producer for both letters
    assert made[-1]["acks"] == "all" and made[-1]["max_request_size"] == 9_000_000
    assert made[-1]["request_timeout_ms"] == int(REQUEST_TIMEOUT_S * 1000) <= 30_000
    assert made[-1]["security_protocol"] == "SSL"
    assert sent == [("p.cc.deadletter", b"bad-1", None, [("ccpulse.reason", b"x")]),
                    ("p.cc.deadletter", b"bad-2", None, [("ccpulse.reason", b"x")])]
