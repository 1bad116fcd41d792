"""What a checkpoint writes for a record (streams/worker/checkpoint.py) is ``orjson.dumps`` of
the record with its named tuples as lists, byte for byte, however the record changed since
its previous write: the JSON of a long list's items is reused from that write only where the
very same item objects are still there (``ListJson``). Base records are written first."""

from __future__ import annotations

import random
import tracemalloc
from typing import Any, NamedTuple

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.core.engine import BASE_KEY, Directory, Engine
from streams.core.pipeline import PipelineStats
from streams.ingest import ingest
from streams.publish import route_event
from streams.simulate.generator import generate
from streams.simulate.scenarios import contact_centre
from streams.worker.checkpoint import (
    LONG_LIST,
    ListJson,
    Pending,
    TableStore,
    encode_record,
    writes_by_partition,
)


class Change(NamedTuple):
    at_us: int
    event_id: str
    state: str
    queues: tuple[str, ...] | None


def plain(record: dict[str, Any]) -> bytes:
    """The reference: every tuple as a list, then one ``orjson.dumps``."""

    def lists(value: Any) -> Any:
        if isinstance(value, tuple):
            return [lists(v) for v in value]
        if isinstance(value, list):
            return [lists(v) for v in value]
        if isinstance(value, dict):
            return {k: lists(v) for k, v in value.items()}
        return value

    return orjson.dumps(lists(record))


def change(i: int) -> Change:
    return Change(1_000_000 * i, f"e{i}", ("available", "on_contact")[i % 2],
                  None if i % 3 else ("q1", "q2"))


# One step of what may happen to a record's list between two writes.
STEPS = ("append", "append_many", "insert", "trim", "trim_and_append", "replace_item",
         "shrink", "new_list", "delete", "same", "drop_field", "extra_field")


def mutate(record: dict[str, Any] | None, step: str, rng: random.Random,
           counter: list[int]) -> dict[str, Any] | None:
    def fresh() -> Change:
        counter[0] += 1
        return change(counter[0])

    if record is None or step == "new_list":
        return {"kind": "agent", "v": 2, "p": 0,
                "tl": [fresh() for _ in range(rng.randint(LONG_LIST - 2, LONG_LIST + 40))]}
    tl = record.get("tl", [])
    if step == "append":
        tl.append(fresh())
    elif step == "append_many":
        tl.extend(fresh() for _ in range(rng.randint(2, 30)))
    elif step == "insert" and tl:
        tl.insert(rng.randrange(len(tl)), fresh())
    elif step in ("trim", "trim_and_append") and len(tl) > 2:
        cut = rng.randint(1, len(tl) - 2)
        record["tl"] = tl = [tl[cut]._replace(queues=("q9",)), *tl[cut + 1:]]
        if step == "trim_and_append":
            tl.append(fresh())
    elif step == "replace_item" and tl:
        i = rng.randrange(len(tl))
        tl[i] = tl[i]._replace(state="not_ready")
    elif step == "shrink":
        del tl[LONG_LIST // 2:]
    elif step == "delete":
        return None
    elif step == "drop_field":
        record.pop("tl", None)
    elif step == "extra_field":  # the list is then not the last field
        record["rq"] = "billing"
    return record


class TestRecordsAreWrittenByteForByte:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.lists(st.sampled_from(STEPS), min_size=1, max_size=3), min_size=1,
                    max_size=25), st.integers(0, 2**32))
    def test_after_any_sequence_of_changes(self, checkpoints, seed) -> None:
        rng = random.Random(seed)
        lists = ListJson()
        counter = [0]
        records: dict[bytes, dict[str, Any] | None] = {b"agent:a1": None, b"agent:a2": None}
        for steps in checkpoints:
            pending: Pending = {}
            for key in records:
                for step in steps:
                    records[key] = mutate(records[key], step, rng, counter)
                pending[key] = (0, records[key])
            for key, value in writes_by_partition(pending, lists)[0]:
                record = records[key]
                assert value == (None if record is None else plain(record))

    def test_a_record_holding_only_a_long_list(self) -> None:
        record = {"tl": [change(i) for i in range(LONG_LIST + 1)]}
        lists = ListJson()
        for _ in range(2):
            assert lists.encode(b"k", record) == plain(record) == encode_record(record)
            record["tl"].append(change(999))

    def test_what_orjson_cannot_write_still_fails(self) -> None:
        with pytest.raises(TypeError):
            encode_record({"ev": [{1, 2}]})
        with pytest.raises(TypeError):
            ListJson().encode(b"k", {"ev": [change(i) for i in range(LONG_LIST)] + [b"x"]})

    def test_memory_is_bounded(self) -> None:
        lists = ListJson()
        lists.KEPT_ITEMS = 3 * LONG_LIST
        for i in range(10):
            record = {"tl": [change(j) for j in range(LONG_LIST)]}
            assert lists.encode(f"agent:{i}".encode(), record) == plain(record)
            assert lists._items <= lists.KEPT_ITEMS

    def test_the_json_kept_takes_its_own_size_not_orjsons_buffer(self) -> None:
        """orjson's output sits in a buffer of at least 4 KiB; the item JSON kept between
        writes (an agent's two days of state changes) must not keep those buffers."""
        lists = ListJson()
        items = 4 * LONG_LIST
        tracemalloc.start()
        try:
            lists.encode(b"agent:a", {"tl": [change(i) for i in range(items)]})
            lists.encode(b"agent:a", {"tl": [change(i) for i in range(items + 8)]})
            kept, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        json_bytes = sum(len(part) for part in lists._lists[b"agent:a"][1])
        assert kept < 2 * json_bytes + items * 200  # orjson's buffers alone: items × 4 KiB

    def test_base_records_go_first(self) -> None:
        base = f"{BASE_KEY}:0".encode()
        pending: Pending = {b"call:1": (0, {"ev": []}), b"call:2": (1, None),
                            base: (0, {"kind": "base"}), b"call:3": (0, {"ev": []})}
        out = writes_by_partition(pending, ListJson())
        assert [key for key, _ in out[0]] == [base, b"call:1", b"call:3"]
        assert out[1] == [(b"call:2", None)]
        assert pending == {}


class TestTheWorkersRecords:
    def test_every_checkpoint_of_a_simulated_morning_writes_what_encode_record_writes(self):
        """Six simulated hours of every family through engines on table stores, as a worker
        has them (agents' timelines grow past LONG_LIST), a checkpoint every 1,000 events."""
        config = parse_config({})
        directory = Directory()
        pending: dict[str, Pending] = {}
        engines: dict[str, Engine] = {}
        lists = ListJson()
        checked = long = 0
        events = generate(contact_centre(), seed=3, start_ms=1_795_338_000_000,
                          duration_ms=6 * 3_600_000)
        stats = PipelineStats()
        for i, event in enumerate(events, 1):
            topic = route_event(event).topic
            engine = engines.get(topic)
            if engine is None:
                dirty = pending[topic] = {}
                engine = engines[topic] = Engine(config, TableStore(dirty, 0),
                                                 directory=directory)
            ingest(orjson.dumps(event), engine, stats, topic=topic)
            if i % 1000 == 0:
                for dirty in pending.values():
                    records = dict(dirty)
                    for key, value in writes_by_partition(dirty, lists).get(0, []):
                        record = records[key][1]
                        assert value == (None if record is None else encode_record(record))
                        checked += 1
                        long += record is not None and len(record.get("tl", ())) >= LONG_LIST
        assert checked > 5_000 and long > 100  # the long lists were exercised
