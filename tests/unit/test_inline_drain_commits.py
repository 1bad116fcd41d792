"""Commits the inline fetch loop starts (``broker_commit_every``) run beside the next chunks:
they never hold the chunks up, at most one runs at a time, each commits only offsets acknowledged
before it started, and one that fails stops the loop as an awaited commit did."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from test_worker_inline_drain import CALLS, FakeApp, FakeConsumer, Flag, record

from streams.worker.inline import install_inline_drain


class SlowCommits(FakeConsumer):
    """A consumer whose commit takes the offsets acknowledged when it starts, then waits until
    the test lets it finish (as a checkpoint waits for Kafka)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()
        self.running = 0
        self.most_running = 0
        self.fail: Exception | None = None

    async def commit(self) -> None:
        self.commits.append({tp: list(offsets) for tp, offsets in self._acked.items()})
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.release.wait()
            if self.fail is not None:
                raise self.fail
        finally:
            self.running -= 1


def drain(consumer: SlowCommits, handler: Any, chunk: int) -> None:
    install_inline_drain(consumer.app, lambda topic: topic == CALLS.topic, handler, chunk=chunk)
    # a loop that awaited its commits would wait for ever: fail instead of hanging
    asyncio.run(asyncio.wait_for(consumer._drain_messages(SimpleNamespace(_stopped=Flag())), 30))


def test_chunks_are_applied_while_a_commit_waits_and_one_commit_runs_at_a_time():
    applied: list[int] = []
    app = FakeApp()
    consumer = app.consumer = SlowCommits(app, [{CALLS: [record(CALLS, o) for o in range(12)]}],
                                          commit_every=2)

    async def handler(tp: Any, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)
        if applied[-1] == 11:  # the last chunk: Kafka answers the commit under way
            consumer.release.set()

    drain(consumer, handler, chunk=2)
    assert applied == list(range(12))  # the first commit's wait held none of them up
    assert consumer.most_running == 1
    assert consumer.commits[0] == {CALLS: [0, 1]}  # only what was acknowledged when it began


def test_a_commit_that_fails_stops_the_fetch_loop():
    app = FakeApp()
    consumer = app.consumer = SlowCommits(app, [{CALLS: [record(CALLS, o) for o in range(8)]}],
                                          commit_every=2)
    consumer.fail = RuntimeError("Kafka refused the changelog write")
    consumer.consumer_stopped_errors = (KeyError,)
    consumer.release.set()

    async def handler(tp: Any, records: list[Any]) -> None:
        return None

    with pytest.raises(RuntimeError, match="refused"):
        drain(consumer, handler, chunk=2)
    assert len(consumer.commits) == 1  # no commit was started after the failed one
