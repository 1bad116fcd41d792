"""ColdKeys: the keys of entities only in the store, packed (streams.core.cold_keys)."""

from __future__ import annotations

import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core import cold_keys
from streams.core.cold_keys import ColdKeys

KEYS = st.sampled_from(["customer:c1", "customer:c2", "ticket:t1", "call:é-ü", "chat:a\x00b",
                        "feedback:f9", "agent:a1", "", "1", "c1", "er:c1"])
STEPS = st.sampled_from([None, 0, 1, 7, 2**40])
OPS = st.lists(st.tuples(st.sampled_from(["add", "discard", "take"]), KEYS, STEPS),
               max_size=60)


def model_filed(held: dict[str, int | None]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for key, step in held.items():
        if step is not None:
            out.setdefault(step, []).append(key)
    return {s: sorted(k) for s, k in sorted(out.items())}


@settings(max_examples=400, deadline=None)
@given(OPS)
def test_keys_held_and_filed_are_those_of_a_plain_model(ops):
    """Against a dict key -> step, with the engine's contract: a key is added when it leaves
    memory and discarded when it comes back, once each; the keys a step's list gives come
    back at once, as a prune's do. Keys that end another (``c1``, ``er:c1``, ``1``) share a
    list's bytes."""
    cold, held = ColdKeys(), {}
    for op, key, step in ops:
        if op == "add" and key not in held:
            cold.add(key, step)
            held[key] = step
        elif op == "discard" and key in held:
            cold.discard(key)
            del held[key]
        elif op == "take" and step is not None:
            taken = cold.take(step)
            assert sorted(taken) == sorted(k for k, s in held.items() if s == step)
            for k in taken:
                cold.discard(k)
                del held[k]
        assert len(cold) == len(held) and bool(cold) == bool(held)
        for k in ("customer:c1", "chat:a\x00b", "call:é-ü", "", "c1", "er:c1"):
            assert (k in cold) == (k in held)
            if k in held:
                assert cold.step_of(k) == held[k]
        assert {s: sorted(k) for s, k in cold.filed().items()} == model_filed(held)
        assert sum(map(cold.filed_at, cold.steps())) == sum(s is not None for s in held.values())


def test_a_key_not_held_is_not_found_nor_discarded():
    cold = ColdKeys()
    cold.add("customer:c1", 4)
    cold.discard("customer:c2")
    assert len(cold) == 1 and "customer:c2" not in cold
    try:
        cold.step_of("customer:c2")
    except KeyError:
        pass
    else:
        raise AssertionError("step_of a key not held")


def test_taken_keys_are_interned_as_the_kinds_keys_are():
    cold = ColdKeys()
    key = "customer:" + "c" * 20
    cold.add(key, 3)
    (taken,) = cold.take(3)
    assert taken == key and taken is sys.intern(taken)


def test_the_buckets_grow_and_every_key_is_still_found_at_its_step(monkeypatch):
    monkeypatch.setattr(cold_keys, "BUCKET_KEYS", 4)
    cold = ColdKeys()
    keys = [f"customer:{i}" for i in range(20_000)]  # 1,024 buckets of 4: grows twice
    for i, key in enumerate(keys):
        cold.add(key, i % 50 if i % 10 else None)
    assert len(cold._buckets) == 1024 * cold_keys.GROWTH ** 2
    assert all(key in cold for key in keys)
    assert all(cold.step_of(k) == (i % 50 if i % 10 else None) for i, k in enumerate(keys))
    assert "customer:20000" not in cold
    for key in keys[::2]:
        cold.discard(key)
    assert len(cold) == 10_000
    assert [k for k in keys if k in cold] == keys[1::2]
    assert sorted(cold.take(1)) == sorted(k for i, k in enumerate(keys) if i % 50 == 1)


def test_a_snapshot_of_the_keys_packed_gives_the_same_keys_at_the_same_steps():
    cold = ColdKeys()
    keys = [f"customer:{i}" for i in range(3_000)] + ["x\x00y", "call:é"]
    for i, key in enumerate(keys):
        cold.add(key, i % 7)
    cold.add("ticket:open", None)  # undated: the engine keeps those apart
    for key in keys[::3]:
        cold.discard(key)
    steps, odd = cold.packed()
    assert all(isinstance(v, bytes) for v in steps.values())
    again = ColdKeys()
    again.add_packed(steps, odd)
    assert again.filed() == cold.filed()
    assert len(again) == len(cold) - 1


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
    assert all(k in many and many.step_of(k) == one.step_of(k) for k in held)


def test_many_keys_added_at_once_grow_the_buckets_first(monkeypatch):
    monkeypatch.setattr(cold_keys, "BUCKET_KEYS", 4)
    cold = ColdKeys()
    keys = [f"ticket:{i}" for i in range(30_000)]
    cold.add_many(keys, 5)
    assert len(cold._buckets) * 4 >= len(keys)
    assert all(k in cold for k in keys) and cold.take(5) == keys


def test_a_held_key_costs_its_hash_its_step_and_its_bytes_not_an_object():
    """16 bytes of hash and step, and the key's bytes and its NUL: no Python object per key
    (a set and a dict of the keys cost ~150 bytes a key, docs/performance.md)."""
    cold = ColdKeys()
    keys = [f"customer:C{i:08d}" for i in range(200_000)]
    for i, key in enumerate(keys):
        cold.add(key, i // 1000)
    per_key = cold.bytes_held() / len(keys)
    assert per_key < 16 + len(keys[0]) + 1 + 16, per_key
