"""The inline fetch loop's whole-batch paths (streams/worker/inline.py) do exactly what its
record-by-record rules do, for any fetched offsets: a batch of consecutive offsets from the
read offset on is taken whole, and a chunk of new offsets is acknowledged at once; anything
else (re-reads, older offsets, holes, repeats) goes record by record. A hole before a batch is
read again once (a seek back to the next offset to apply: after the read offset the loop set,
at one a seek set); the fetches here are the whole log, so the broker returns the same batch
again and the hole is a real gap. Random fetches, from a partition just assigned with or
without a commit, are compared with those rules written out plainly."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_worker_inline_drain import CALLS, FakeApp, FakeConsumer, Flag, record

from streams.worker.inline import acknowledge, install_inline_drain


def expected_drain(fetches: list[list[int]], commit: int | None = None,
                   ) -> tuple[list[int], list[tuple[int, int]], list[int], int | None]:
    """Applied offsets, gaps, acknowledged offsets and the read offset, record by record,
    from a partition just assigned with the group's ``commit`` (None: none), which Faust's
    seek to it makes the read offset: the next offset to read until one is read, the last
    one read from then on. (Faust's own loop records no gap after offset 0: it tests the
    read offset for truth.)"""
    read: int | None = commit
    next_offset = commit
    applied: list[int] = []
    gaps: list[tuple[int, int]] = []
    acked: list[int] = []
    for offsets in fetches:
        for offset in offsets:
            if read is None or offset >= read:
                if next_offset is not None and offset > next_offset:
                    gaps.append((next_offset, offset))
                applied.append(offset)
                read, next_offset = offset, offset + 1
                if offset not in acked:
                    acked.append(offset)
    return applied, gaps, acked, read


offsets = st.lists(st.integers(0, 40), max_size=12)
runs = st.builds(lambda start, n: list(range(start, start + n)), st.integers(0, 40),
                 st.integers(1, 12))
fetches = st.lists(st.one_of(runs, offsets), max_size=6)


class Broker(FakeConsumer):
    """A seek back before a hole fetches the same batch again: the offsets in between do not
    exist in this log."""

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:
        records, active = await super()._wait_next_records(timeout)
        self.last_fetch = records
        return records, active

    async def seek(self, tp: Any, offset: int) -> None:
        await super().seek(tp, offset)
        self.fetches.insert(0, {tp: self.last_fetch[tp]})


@settings(max_examples=400, deadline=None)
@given(fetches, st.integers(1, 5), st.none() | st.integers(1, 40))
def test_the_loop_takes_what_the_record_by_record_rules_take(batches, chunk, commit) -> None:
    applied: list[int] = []

    async def handler(tp: Any, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    app = FakeApp()
    consumer = app.consumer = Broker(
        app, [{CALLS: [record(CALLS, o) for o in batch]} for batch in batches if batch])
    # as Faust's perform_seek leaves a partition just assigned (a commit of 0 is left out:
    # Faust's seek to 0 sets no read offset, so a hole from 0 is never recorded as a gap)
    consumer._committed_offset[CALLS] = consumer._read_offset[CALLS] = commit
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, chunk=chunk)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    want_applied, want_gaps, want_acked, want_read = expected_drain(batches, commit)
    assert applied == want_applied
    assert consumer.gaps == [(CALLS, start, end) for start, end in want_gaps]
    assert consumer._acked[CALLS] == want_acked
    assert consumer._n_acked == len(want_acked)
    assert consumer._read_offset[CALLS] == want_read


@settings(max_examples=400, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=10), st.one_of(st.none(), st.integers(0, 20)),
       st.lists(st.integers(0, 30), max_size=5))
def test_acknowledge_is_the_per_offset_rule(chunk, committed, acked_before) -> None:
    consumer = FakeConsumer(FakeApp(), [])
    consumer._committed_offset[CALLS] = committed
    for offset in dict.fromkeys(acked_before):
        consumer._acked[CALLS].append(offset)
        consumer._acked_index[CALLS].add(offset)
    want = list(consumer._acked[CALLS])
    for offset in chunk:
        if (committed is None or offset >= committed) and offset not in want:
            want.append(offset)
    added = acknowledge(consumer, CALLS, chunk)
    assert consumer._acked[CALLS] == want
    assert consumer._acked_index[CALLS] == set(want)
    assert added == consumer._n_acked == len(want) - len(dict.fromkeys(acked_before))


def test_a_seek_that_fails_while_the_flow_is_stopped_does_not_stop_the_loop() -> None:
    """As Faust's getmany: a rebalance can take a partition away between the flow stopping
    and the seek back to the committed offsets (aiokafka's IllegalStateError); the loop logs
    it and goes on, and the records fetched meanwhile are neither applied nor acknowledged."""
    applied: list[int] = []

    async def handler(tp: Any, records: list[Any]) -> None:
        applied.extend(r.offset for r in records)

    class Revoked(FakeConsumer):
        async def perform_seek(self) -> None:
            self.seeks += 1
            self.flow_active = True  # the rebalance completes
            raise RuntimeError("No current assignment for partition")

    app = FakeApp()
    consumer = app.consumer = Revoked(app, [{CALLS: [record(CALLS, 0)]},
                                            {CALLS: [record(CALLS, 1)]}])
    consumer.consumer_stopped_errors = (LookupError,)
    consumer.flow_active = False
    install_inline_drain(app, lambda topic: topic == CALLS.topic, handler)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert consumer.seeks == 1
    assert applied == [1]  # the next fetch, after the rebalance
    assert consumer._acked[CALLS] == [1]


def test_the_loop_holds_a_partition_from_its_fetch_until_its_batch_is_applied() -> None:
    """``holds(tp)`` (what the worker's lag floors on: streams.worker.app._handed_over_to) is
    true while records taken from aiokafka are being applied, in every chunk, and false once
    the loop is done with them."""
    seen: list[tuple[int, bool]] = []
    holds: Any = None

    async def handler(tp: Any, records: list[Any]) -> None:
        await asyncio.sleep(0)  # a scrape or health check may run between chunks
        seen.append((records[0].offset, holds(tp)))

    app = FakeApp()
    consumer = app.consumer = FakeConsumer(app, [{CALLS: [record(CALLS, o) for o in range(4)]},
                                                 {CALLS: [record(CALLS, 4)]}])
    holds = install_inline_drain(app, lambda topic: topic == CALLS.topic, handler, chunk=2)
    asyncio.run(consumer._drain_messages(SimpleNamespace(_stopped=Flag())))
    assert seen == [(0, True), (2, True), (4, True)]
    assert not holds(CALLS)
