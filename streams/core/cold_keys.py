"""The keys of the entities whose records are only in the store, without a Python object each.

An engine with a spilling store (the worker's RocksDB) leaves idle entities' records on disk
(``Engine._freeze``), and a restored engine starts with every entity there
(``Engine.load_snapshot``). It must still tell such a key from a new one when an event names
it, and find the ones a prune step makes due. Kept as Python objects (a set of the keys, a dict
of their steps, the key strings themselves and their entries among the interned strings),
that cost ~170 bytes a key: a customer base of a million under 13 months of retention would
be ~170 MiB of memory for records that are not in memory (docs/performance.md, "Memory").

:class:`ColdKeys` keeps, per key, 16 bytes in one of a few thousand ``bytearray`` buckets:
its 64-bit hash and its prune step (membership is a ``find`` in C in one bucket); and, for a
dated key, its UTF-8 bytes in its prune step's ``bytearray``, ended by a NUL (what a prune
step makes due; a key holding a NUL is kept as a string). A key taken back into memory leaves
both (:meth:`ColdKeys.discard`). No object per key: ~45 bytes a key.

Membership is by hash: Python's 64-bit ``hash`` of the key (SipHash-1-3, keyed per process;
never persisted). Two keys held together share a hash with a chance of about n²/2⁶⁵ for n
keys (a million: 3 in 10⁸), as the customers' event-id fingerprints do
(streams.core.entities.customer); the lists then keep a stale entry, which :meth:`take`
leaves out.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator

#: Keys a bucket holds on average before the buckets are multiplied by :data:`GROWTH`.
BUCKET_KEYS = 64
#: Buckets to start with, and the factor they grow by.
FIRST_BUCKETS = 1024
GROWTH = 4
_MASK = 2**64 - 1
_SEP = b"\x00"
#: One bucket entry: the key's hash (unsigned) and its prune step (:data:`_UNDATED`: none).
_ENTRY = struct.Struct("<Qq")
_UNDATED = -1


def _find(bucket: bytearray, needle: bytes) -> int:
    """The offset of the entry whose hash is ``needle`` (8 bytes) in ``bucket``, or -1."""
    at = bucket.find(needle)
    while at >= 0 and at & 15:
        at = bucket.find(needle, at + 1)
    return at


def _find_key(keys: bytearray, data: bytes) -> int:
    """The offset of key ``data`` in a step's list (keys each ended by a NUL), or -1."""
    needle = data + _SEP
    at = keys.find(needle)
    while at > 0 and keys[at - 1]:  # inside a longer key: not at a key's start
        at = keys.find(needle, at + 1)
    return at


class ColdKeys:
    """Keys held by hash, each with its prune step, and the dated ones listed by step.

    ``len`` is exact: callers add a key only when it leaves memory and discard it only when it
    comes back (``Engine._materialize``), once each.
    """

    def __init__(self) -> None:
        self._buckets = [bytearray() for _ in range(FIRST_BUCKETS)]
        self._mask = FIRST_BUCKETS - 1
        self._count = 0
        self._steps: dict[int, bytearray] = {}
        #: Keys holding a NUL (the separator), by step: rare enough to be objects.
        self._odd: dict[int, list[str]] = {}

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __contains__(self, key: str) -> bool:
        h = hash(key)
        return _find(self._buckets[h & self._mask], (h & _MASK).to_bytes(8, "little")) >= 0

    def add(self, key: str, step: int | None) -> None:
        """Hold ``key``, filed at prune ``step`` (None: undated, held only)."""
        h = hash(key)
        self._buckets[h & self._mask] += _ENTRY.pack(h & _MASK, _UNDATED if step is None
                                                     else step)
        self._count += 1
        if self._count > BUCKET_KEYS * len(self._buckets):
            self._grow()
        if step is None:
            return
        data = key.encode("utf-8", "surrogatepass")
        if _SEP in data:
            self._odd.setdefault(step, []).append(key)
            return
        keys = self._steps.get(step)
        if keys is None:
            keys = self._steps[step] = bytearray()
        keys += data
        keys += _SEP

    def add_many(self, keys: list[str], step: int | None) -> None:
        """:meth:`add` each of ``keys`` (none held already) at ``step``, in one pass: a
        restored snapshot's (``Engine.load_snapshot``)."""
        if not keys:
            return
        text = b""
        if step is not None:
            text = "\x00".join(keys).encode("utf-8", "surrogatepass")
            if text.count(_SEP) != len(keys) - 1:  # a key holds a NUL (rare): one by one
                for key in keys:
                    self.add(key, step)
                return
        self._count += len(keys)
        while self._count > BUCKET_KEYS * len(self._buckets):
            self._grow()
        buckets, mask, pack = self._buckets, self._mask, _ENTRY.pack
        at = _UNDATED if step is None else step
        for key in keys:
            h = hash(key)
            buckets[h & mask] += pack(h & _MASK, at)
        if step is not None:
            blob = self._steps.get(step)
            if blob is None:
                blob = self._steps[step] = bytearray()
            blob += text
            blob += _SEP

    def step_of(self, key: str) -> int | None:
        """The prune step ``key`` is held at (None: undated). Raises KeyError if not held."""
        h = hash(key)
        bucket = self._buckets[h & self._mask]
        at = _find(bucket, (h & _MASK).to_bytes(8, "little"))
        if at < 0:
            raise KeyError(key)
        step = _ENTRY.unpack_from(bucket, at)[1]
        return None if step == _UNDATED else step  # type: ignore[no-any-return]

    def discard(self, key: str) -> None:
        """Stop holding ``key``, and take it out of its step's list. A key not held is
        ignored."""
        h = hash(key)
        bucket = self._buckets[h & self._mask]
        at = _find(bucket, (h & _MASK).to_bytes(8, "little"))
        if at < 0:
            return
        step = _ENTRY.unpack_from(bucket, at)[1]
        del bucket[at:at + 16]
        self._count -= 1
        if step == _UNDATED:
            return
        keys = self._steps.get(step)
        if keys is not None:
            data = key.encode("utf-8", "surrogatepass")
            at = _find_key(keys, data)
            if at >= 0:
                del keys[at:at + len(data) + 1]
                if not keys:
                    del self._steps[step]
                return
        odd = self._odd.get(step)
        if odd is not None and key in odd:
            odd.remove(key)
            if not odd:
                del self._odd[step]

    def steps(self) -> list[int]:
        """The prune steps with dated keys filed."""
        return list(self._steps.keys() | self._odd.keys())

    def filed_at(self, step: int) -> int:
        """How many keys are filed at ``step``."""
        keys = self._steps.get(step)
        return (keys.count(_SEP) if keys else 0) + len(self._odd.get(step, ()))

    def take(self, step: int) -> list[str]:
        """Take ``step``'s list: its keys, interned (as the kinds' own keys: one object a
        key while it is in memory). They stay held (:meth:`discard` them as they come back)."""
        keys = _decoded(self._steps.pop(step, None)) + self._odd.pop(step, [])
        return [sys.intern(key) for key in keys if key in self]  # `in`: a shared hash's

    def packed(self) -> tuple[dict[int, bytes], dict[int, list[str]]]:
        """The dated keys as ``step -> bytes`` (each key ended by a NUL) and ``step -> keys``
        of those holding a NUL: for a snapshot, read back by :meth:`add_packed`. Undated keys
        are left out (``Engine._undated`` has them)."""
        return ({step: bytes(keys) for step, keys in self._steps.items()},
                {step: list(keys) for step, keys in self._odd.items()})

    def add_packed(self, steps: dict[int, bytes], odd: dict[int, list[str]]) -> None:
        """Hold the keys of :meth:`packed` (none held already)."""
        for step, keys in steps.items():
            self.add_many(_decoded(keys), step)
        for step, more in odd.items():
            for key in more:
                self.add(key, step)

    def filed(self) -> dict[int, list[str]]:
        """Step -> the dated keys filed there."""
        return {step: _decoded(self._steps.get(step)) + self._odd.get(step, [])
                for step in sorted(self.steps())}

    def __iter__(self) -> Iterator[str]:
        """Every dated key held."""
        for keys in self.filed().values():
            yield from keys

    def bytes_held(self) -> int:
        """What the buckets and the lists take in memory, bytes."""
        return (sys.getsizeof(self._buckets) + sum(map(sys.getsizeof, self._buckets))
                + sys.getsizeof(self._steps) + sum(map(sys.getsizeof, self._steps.values())))

    def _grow(self) -> None:
        """Multiply the buckets by :data:`GROWTH`, moving each entry to its new bucket: in
        Python, ~0.35 µs an entry (at 65,536, 262,144 and 1,048,576 keys held: ~25, ~90 and
        ~350 ms, once each; a restore grows them first, :meth:`add_many`)."""
        buckets = [bytearray() for _ in range(len(self._buckets) * GROWTH)]
        mask = len(buckets) - 1
        for bucket in self._buckets:
            for i in range(0, len(bucket), 16):
                entry = bucket[i:i + 16]
                buckets[int.from_bytes(entry[:8], "little") & mask] += entry
        self._buckets, self._mask = buckets, mask


def _decoded(keys: bytes | bytearray | None) -> list[str]:
    """The keys of one step's list (each ended by a NUL)."""
    if not keys:
        return []
    return keys.decode("utf-8", "surrogatepass").split("\x00")[:-1]
