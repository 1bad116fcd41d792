"""The keys of the entities whose records are only in the store, without a Python object each.

An engine with a spilling store (the worker's RocksDB) leaves idle entities' records on disk
(``Engine._freeze``), and a restored engine starts with every entity there
(``Engine.load_snapshot``). It must still tell such a key from a new one when an event names
it, and find the ones a prune step makes due. Kept as Python objects (a set of the keys, a dict
of their steps, the key strings themselves and their entries among the interned strings),
that cost ~170 bytes a key: a customer base of a million under 13 months of retention would
be ~170 MiB of memory for records that are not in memory (docs/performance.md, "Memory").

:class:`ColdKeys` keeps, per key, 8 bytes of its 64-bit hash in one of a few thousand
``bytearray`` buckets (membership: a ``find`` in C in one bucket), and its UTF-8 bytes in a
``bytearray`` per prune step, each ended by a NUL (what a prune step makes due; a key holding a NUL
is kept as a string). Nothing else, and no object per key.

Membership is by hash: Python's 64-bit ``hash`` of the key (SipHash-1-3, keyed per process;
never persisted). Two keys held together share a hash with a chance of about n²/2⁶⁵ for n
keys (a million: 3 in 10⁸), as the customers' event-id fingerprints do
(streams.core.entities.customer). A key taken out of memory again is *discarded*: its
hash goes, its bytes stay in its step's list until that step is taken (:meth:`take`), which
gives only the keys still held.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

#: Keys a bucket holds on average before the buckets are multiplied by :data:`GROWTH`.
BUCKET_KEYS = 128
#: Buckets to start with, and the factor they grow by.
FIRST_BUCKETS = 1024
GROWTH = 4
_MASK = 2**64 - 1
_SEP = b"\x00"


def _hash_bytes(key: str) -> bytes:
    return (hash(key) & _MASK).to_bytes(8, "little")


def _find(bucket: bytearray, needle: bytes) -> int:
    """The offset of ``needle`` (8 bytes) at a multiple of 8 in ``bucket``, or -1."""
    at = bucket.find(needle)
    while at >= 0 and at & 7:
        at = bucket.find(needle, at + 1)
    return at


class ColdKeys:
    """A multiset of keys by hash, and the keys by prune step (``None``: undated).

    ``len`` is exact: callers add a key only when it leaves memory and discard it only when it
    comes back (``Engine._materialize``), once each.
    """

    def __init__(self) -> None:
        self._mask = FIRST_BUCKETS - 1
        self._buckets = [bytearray() for _ in range(FIRST_BUCKETS)]
        self._count = 0
        self._steps: dict[int | None, bytearray] = {}
        #: Keys holding a NUL (the separator), by step: rare enough to be objects.
        self._odd: dict[int | None, list[str]] = {}

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, key: str) -> bool:
        needle = _hash_bytes(key)
        return _find(self._buckets[hash(key) & self._mask], needle) >= 0

    def add(self, key: str, step: int | None) -> None:
        """Hold ``key``, filed at prune ``step``."""
        self.mark(key)
        if _SEP in key.encode("utf-8", "surrogatepass"):
            self._odd.setdefault(step, []).append(key)
            return
        keys = self._steps.get(step)
        if keys is None:
            keys = self._steps[step] = bytearray()
        keys += key.encode("utf-8", "surrogatepass")
        keys += _SEP

    def add_many(self, keys: list[str], step: int | None) -> None:
        """:meth:`add` each of ``keys`` (none held already) at ``step``, in one pass: a
        restored snapshot's (``Engine.load_snapshot``)."""
        if not keys:
            return
        text = "\x00".join(keys).encode("utf-8", "surrogatepass")
        if text.count(_SEP) != len(keys) - 1:  # a key holds a NUL (rare): one by one
            for key in keys:
                self.add(key, step)
            return
        self._count += len(keys)
        while self._count > BUCKET_KEYS * len(self._buckets):
            self._grow()
        buckets, mask = self._buckets, self._mask
        for key in keys:
            h = hash(key)
            buckets[h & mask] += (h & _MASK).to_bytes(8, "little")
        blob = self._steps.get(step)
        if blob is None:
            blob = self._steps[step] = bytearray()
        blob += text
        blob += _SEP

    def mark(self, key: str) -> None:
        """Hold ``key`` again (its hash only: its step's list still has it)."""
        self._buckets[hash(key) & self._mask] += _hash_bytes(key)
        self._count += 1
        if self._count > BUCKET_KEYS * len(self._buckets):
            self._grow()

    def discard(self, key: str) -> None:
        """Stop holding ``key`` (its bytes stay in its step's list until taken). A key not
        held is ignored."""
        bucket = self._buckets[hash(key) & self._mask]
        at = _find(bucket, _hash_bytes(key))
        if at >= 0:
            del bucket[at:at + 8]
            self._count -= 1

    def steps(self) -> list[int | None]:
        """The steps with keys filed (some perhaps no longer held)."""
        return list(self._steps.keys() | self._odd.keys())

    def filed_at(self, step: int | None) -> int:
        """How many keys are filed at ``step``, counting those no longer held (a bound)."""
        keys = self._steps.get(step)
        return (keys.count(_SEP) if keys else 0) + len(self._odd.get(step, ()))

    def take(self, step: int | None) -> list[str]:
        """Take ``step``'s list: the keys filed there that are still held, once each,
        interned (as the kinds' own keys: one object a key while it is in memory). They stay
        held (:meth:`discard` them as they come back)."""
        keys = self._steps.pop(step, None)
        odd = self._odd.pop(step, [])
        return [sys.intern(key) for key in dict.fromkeys(self._decoded(keys) + odd)
                if key in self]

    def at(self, step: int | None) -> list[str]:
        """The keys filed at ``step`` that are still held, once each (the list stays)."""
        return [key for key in dict.fromkeys(self._decoded(self._steps.get(step))
                                             + self._odd.get(step, [])) if key in self]

    def filed(self) -> dict[int | None, list[str]]:
        """Step -> the keys held filed there, each key once (at the earliest of its steps:
        a key filed again later was held again at its new step)."""
        out: dict[int | None, list[str]] = {}
        seen: set[str] = set()
        for step in sorted(self.steps(), key=lambda s: (s is None, s or 0)):
            fresh = [key for key in self.at(step) if key not in seen]
            seen.update(fresh)
            if fresh:
                out[step] = fresh
        return out

    def __iter__(self) -> Iterator[str]:
        """Every key held, once."""
        for keys in self.filed().values():
            yield from keys

    @staticmethod
    def _decoded(keys: bytearray | None) -> list[str]:
        if not keys:
            return []
        return keys.decode("utf-8", "surrogatepass").split("\x00")[:-1]  # each ends in one

    def _grow(self) -> None:
        """Multiply the buckets by :data:`GROWTH`, moving each hash to its new bucket."""
        buckets = [bytearray() for _ in range(len(self._buckets) * GROWTH)]
        mask = len(buckets) - 1
        for bucket in self._buckets:
            for h in memoryview(bucket).cast("Q"):
                buckets[h & mask] += h.to_bytes(8, "little")
        self._buckets, self._mask = buckets, mask
