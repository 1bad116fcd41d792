"""Engines rebuilt from a worker's local tables a slice at a time (WorkerState.build): the
same state as one rebuild in a single pass, and a partition no longer owned is abandoned."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from types import SimpleNamespace

import orjson

from streams.core.config import parse_config
from streams.core.events import topic_for_type
from streams.core.kpis import all_families
from streams.exporter import render
from streams.ingest import ingest
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.worker.checkpoint import write_local, writes_by_partition
from streams.worker.state import TP, WorkerState

CONFIG = parse_config({})
TOPICS = ("cc.calls", "cc.chats", "cc.tickets", "cc.agents", "cc.feedback", "cc.customers")


def tables() -> dict[str, SimpleNamespace]:
    return {t: SimpleNamespace(data={}) for t in TOPICS}


def filled_tables(now_us: int) -> dict[str, SimpleNamespace]:
    """Tables holding the records of an hour of traffic on partition 0, written as a
    checkpoint writes them."""
    state = WorkerState(CONFIG, tables(), clock_us=lambda: now_us)
    busy = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
    for event in generate(busy, seed=4, start_ms=now_us // 1000 - 3_600_000,
                          duration_ms=3_600_000):
        topic = topic_for_type(event["type"])
        ingest(orjson.dumps(event), state.engine((topic, 0)), state.stats, topic=topic,
               now_us=now_us)
    for topic, pending in state.pending.items():
        for partition, writes in writes_by_partition(pending).items():
            write_local(state.tables[topic].data, partition, writes)
    return state.tables


def exposition(state: WorkerState, now_us: int) -> bytes:
    tps = sorted(state.engines)
    families = all_families(CONFIG, [state.engines[tp].ledger for tp in tps], now_us)
    return render(lambda: families)


def test_a_slice_by_slice_build_equals_a_one_pass_rebuild():
    now_us = time.time_ns() // 1000
    stored = filled_tables(now_us)
    wanted: set[TP] = {(t, 0) for t in TOPICS}

    one_pass = WorkerState(CONFIG, stored, clock_us=lambda: now_us)
    one_pass.ensure(wanted)
    sliced = WorkerState(CONFIG, stored, clock_us=lambda: now_us)
    built = asyncio.run(sliced.build(lambda: wanted, slice_records=7))

    assert built == len(TOPICS)
    assert sum(e.entity_count for e in sliced.engines.values()) > 500
    assert exposition(sliced, now_us) == exposition(one_pass, now_us)


def test_a_partition_revoked_during_its_build_is_abandoned():
    now_us = time.time_ns() // 1000
    stored = filled_tables(now_us)
    wanted: set[TP] = {("cc.calls", 0), ("cc.chats", 0)}
    state = WorkerState(CONFIG, stored, clock_us=lambda: now_us)
    slices = 0

    def still_wanted() -> set[TP]:
        nonlocal slices
        slices += 1
        return wanted if slices < 3 else {("cc.chats", 0)}  # calls revoked mid-build

    asyncio.run(state.build(still_wanted, slice_records=5))
    assert set(state.engines) == {("cc.chats", 0)}
    directory = state.directories[0]
    assert [e.partition for e in directory.engines] == [0]  # the abandoned one detached
