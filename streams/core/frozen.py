"""A record as bytes, for the engine to hold an idle entity's record in a fraction of the
memory its Python objects take (issue 10: memory that stays flat).

An entity of a long retention mostly sits idle: a ticket is kept 30 days after its solve and a
customer 13 months after its newest event, so after a few simulated weeks most of an engine's
tickets and customers have had no event for days, yet each held its record as Python objects
(a solved ticket ~2.4 kB, a customer ~0.9 kB: docs/performance.md, "Memory"), and their number
grew with the retention windows. :func:`freeze` gives the record pickled (protocol 5: named
tuples by reference to their class, which the pickle names once), compressed with zlib at
level 1 when that pays (a frozen customer takes ~220 bytes, a solved ticket ~540);
:func:`thaw` gives back an equal record: the same dicts, lists, named
tuples, strings and numbers, so no value depends on whether an entity was frozen. Standard
library only: the core does no I/O and decodes no wire format.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any

#: zlib's level for :func:`freeze`: 1, the fastest.
LEVEL = 1
#: Pickles shorter than this are kept as they are: a customer's (~220 bytes) lost under a
#: tenth to zlib, for most of the time a freeze takes; a solved ticket's (~800) lost a third.
COMPRESS_FROM = 512
#: How a pickle of protocol 2 or later begins (a zlib stream begins with 0x78 at level 1).
_PICKLE = 0x80


def freeze(record: dict[str, Any]) -> bytes:
    """``record`` pickled, and compressed from :data:`COMPRESS_FROM` bytes on. Raises what
    ``pickle`` raises for a value it cannot hold (records hold plain values and named tuples
    of the core's modules)."""
    pickled = pickle.dumps(record, protocol=5)
    return pickled if len(pickled) < COMPRESS_FROM else zlib.compress(pickled, LEVEL)


def thaw(frozen: bytes) -> dict[str, Any]:
    """The record :func:`freeze` was given (an equal one)."""
    if frozen[0] != _PICKLE:
        frozen = zlib.decompress(frozen)
    return pickle.loads(frozen)  # type: ignore[no-any-return]
