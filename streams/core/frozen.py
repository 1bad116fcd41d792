"""A record as bytes, for the engine to hold an idle entity's record in a fraction of the
memory its Python objects take (issue 10: memory that stays flat).

An entity of a long retention mostly sits idle: a ticket is kept 30 days after its solve and a
customer 13 months after its newest event, so after a few simulated weeks most of an engine's
tickets and customers have had no event for days, yet each held its record as Python objects
(a solved ticket ~2.4 kB, a customer ~0.9 kB: docs/performance.md, "Memory"), and their number
grew with the retention windows. A :class:`Freezer` gives the record pickled (protocol 5: named
tuples by reference to their class, which the pickle names once) and deflated with a *preset
dictionary* per kind: the pickle of the first record of that kind it froze. Records of one
kind share most of their pickle (field names, class references, queue, channel and status
names), so a frozen customer takes ~85 bytes (~210 pickled, ~200 deflated alone) and a solved
ticket ~330 (~720 pickled, ~500 deflated alone), and nearly all stay within what Python's own
allocator serves (512 bytes), away from the C heap's fragmentation. :meth:`Freezer.thaw`
gives back an equal record: the same dicts, lists, named tuples, strings and numbers, so no
value depends on whether an entity was frozen. Frozen bytes never leave the engine that froze
them (snapshots and the store hold records, not these bytes). Standard library only: the core
does no I/O and decodes no wire format.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any

#: zlib's level: 1, the fastest (level 9 saves ~10 % more for twice the time).
LEVEL = 1
#: The deflate window, as a power of two: 4 KiB, which holds a kind's dictionary and a record
#: (a smaller window and memory level make the primed compressor, copied for each record,
#: cheap to copy).
WINDOW_BITS = 12
MEMORY_LEVEL = 4


class Freezer:
    """Freezes records to bytes and thaws them, for one engine.

    A frozen record is one byte naming its kind's dictionary, then a raw deflate stream of its
    pickle primed with that dictionary. Raises what ``pickle`` raises for a value it cannot
    hold (records hold plain values and named tuples of the core's modules)."""

    def __init__(self) -> None:
        self._dictionaries: list[bytes] = []
        self._numbers: dict[str, int] = {}
        #: per dictionary, a compressor that has seen it, copied for each record
        self._primed: list[Any] = []

    def freeze(self, kind: str, record: dict[str, Any]) -> bytes:
        """``record`` (of entity kind ``kind``) as bytes."""
        pickled = pickle.dumps(record, protocol=5)
        number = self._numbers.get(kind)
        if number is None:
            if len(self._dictionaries) == 256:
                raise ValueError(f"a freezer holds 256 kinds at most, not {kind!r} too")
            number = self._numbers[kind] = len(self._dictionaries)
            dictionary = pickled[-(1 << WINDOW_BITS):]
            self._dictionaries.append(dictionary)
            self._primed.append(zlib.compressobj(LEVEL, zlib.DEFLATED, -WINDOW_BITS,
                                                 MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY,
                                                 dictionary))
        compressor = self._primed[number].copy()
        return bytes((number,)) + compressor.compress(pickled) + compressor.flush()

    def thaw(self, frozen: bytes) -> dict[str, Any]:
        """The record :meth:`freeze` was given (an equal one)."""
        decompressor = zlib.decompressobj(-WINDOW_BITS, self._dictionaries[frozen[0]])
        pickled = decompressor.decompress(memoryview(frozen)[1:]) + decompressor.flush()
        return pickle.loads(pickled)  # type: ignore[no-any-return]
