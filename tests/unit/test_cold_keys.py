"""ColdKeys: the keys of entities only in the store, packed (streams.core.cold_keys)."""

from __future__ import annotations

import sys
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import cold_keys
from streams.core.cold_keys import ColdKeys

KEYS = st.sampled_from(["customer:c1", "customer:c2", "ticket:t1", "call:é-ü", "chat:a\x00b",
                        "feedback:f9", "agent:a1", ""])
STEPS = st.sampled_from([None, 0, 1, 7])
OPS = st.lists(st.one_of(st.tuples(st.just("add"), KEYS, STEPS),
                         st.tuples(st.just("discard"), KEYS, STEPS),
                         st.tuples(st.just("take"), KEYS, STEPS)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_keys_held_and_taken_are_those_of_a_plain_model(ops):
    """Against a model: a multiset of held keys and a list of keys per step; the keys a
    step's list gives are then taken back into memory, as a prune's are."""
    cold, held, filed = ColdKeys(), Counter(), {}
    for op, key, step in ops:
        if op == "add":
            if held[key]:  # the engine adds a key as it leaves memory: once
                continue
            cold.add(key, step)
            held[key] += 1
            filed.setdefault(step, []).append(key)
        elif op == "discard":
            if held[key]:  # the engine discards only what it holds
                cold.discard(key)
                held[key] -= 1
        else:
            expected = [k for k in dict.fromkeys(filed.pop(step, [])) if held[k]]
            taken = cold.take(step)
            assert sorted(taken) == sorted(expected)
            for k in taken:  # each comes back into memory, as a prune's do
                cold.discard(k)
                held[k] -= 1
        assert len(cold) == sum(held.values())
        assert bool(cold) == bool(+held)
        for k in ("customer:c1", "chat:a\x00b", "call:é-ü", ""):
            assert (k in cold) == bool(held[k])
    assert sorted(cold) == sorted(+held)  # each held key once
    for step, keys in cold.filed().items():
        assert all(held[k] for k in keys)
        assert all(step in filed and k in filed[step] for k in keys)


def test_a_key_filed_at_two_steps_is_listed_once_at_the_earlier():
    cold = ColdKeys()
    cold.add("customer:c1", 9)
    cold.discard("customer:c1")
    cold.add("customer:c1", 4)
    assert cold.filed() == {4: ["customer:c1"]}
    assert cold.filed_at(9) == 1  # a bound: the stale entry stays until its step is taken
    assert cold.take(9) == ["customer:c1"]  # still held: a prune visits it, early is safe


def test_taken_keys_are_interned_as_the_kinds_keys_are():
    cold = ColdKeys()
    key = "customer:" + "c" * 20
    cold.add(key, 3)
    (taken,) = cold.take(3)
    assert taken == key and taken is sys.intern(taken)


def test_the_buckets_grow_and_every_key_is_still_found(monkeypatch):
    monkeypatch.setattr(cold_keys, "BUCKET_KEYS", 4)
    cold = ColdKeys()
    keys = [f"customer:{i}" for i in range(20_000)]  # 1,024 buckets of 4: grows twice
    for i, key in enumerate(keys):
        cold.add(key, i % 50)
    assert len(cold._buckets) == 1024 * cold_keys.GROWTH ** 2
    assert all(key in cold for key in keys)
    assert "customer:20000" not in cold
    for key in keys[::2]:
        cold.discard(key)
    assert len(cold) == 10_000
    assert [k for k in keys if k in cold] == keys[1::2]


def test_a_held_key_costs_its_hash_and_its_bytes_not_an_object():
    """~8 bytes of hash and the key's bytes and separator: no Python object per key (a set
    and a dict of the keys cost ~170 bytes a key, docs/performance.md)."""
    cold = ColdKeys()
    keys = [f"customer:C{i:08d}" for i in range(200_000)]
    for i, key in enumerate(keys):
        cold.add(key, i // 1000)
    held = (sum(map(sys.getsizeof, cold._buckets)) + sum(map(sys.getsizeof, cold._steps.values()))
            + sys.getsizeof(cold._buckets) + sys.getsizeof(cold._steps))
    per_key = held / len(keys)
    assert per_key < 8 + len(keys[0]) + 1 + 12, per_key


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(KEYS, unique=True), STEPS), max_size=6))
def test_keys_added_many_at_once_are_held_as_if_added_one_by_one(batches):
    many, one = ColdKeys(), ColdKeys()
    held: set[str] = set()
    for keys, step in batches:
        fresh = [k for k in keys if k not in held]  # never held twice: as the engine adds
        held.update(fresh)
        many.add_many(fresh, step)
        for key in fresh:
            one.add(key, step)
    assert len(many) == len(one) == len(held)
    assert many.filed() == one.filed()
    assert all(k in many for k in held)


def test_many_keys_added_at_once_grow_the_buckets_first(monkeypatch):
    monkeypatch.setattr(cold_keys, "BUCKET_KEYS", 4)
    cold = ColdKeys()
    keys = [f"ticket:{i}" for i in range(30_000)]
    cold.add_many(keys, 5)
    assert len(cold._buckets) * 4 >= len(keys)
    assert all(k in cold for k in keys) and cold.take(5) == keys
