"""A record as bytes, for the engine to hold an idle entity's record in a fraction of the
memory its Python objects take (issue 10: memory that stays flat).

An entity of a long retention mostly sits idle: a ticket is kept 30 days after its solve and a
customer 13 months after its newest event, so after a few simulated weeks most of an engine's
tickets and customers have had no event for days, yet each held its record as Python objects
(a solved ticket ~2.4 kB, a customer ~0.9 kB: docs/performance.md, "Memory"), and their number
grew with the retention windows. :func:`freeze` gives the record pickled (protocol 5: named
tuples by reference to their class, which the pickle names once) and compressed with zlib at
level 1, the fastest; :func:`thaw` gives back an equal record: the same dicts, lists, named
tuples, strings and numbers, so no value depends on whether an entity was frozen. Standard
library only: the core does no I/O and decodes no wire format.
"""

from __future__ import annotations

import pickle
import zlib
from typing import Any

#: zlib's level for :func:`freeze`: 1, the fastest.
LEVEL = 1


def freeze(record: dict[str, Any]) -> bytes:
    """``record`` pickled and compressed. Raises what ``pickle`` raises for a value it cannot
    hold (records hold plain values and named tuples of the core's modules)."""
    return zlib.compress(pickle.dumps(record, protocol=5), LEVEL)


def thaw(frozen: bytes) -> dict[str, Any]:
    """The record :func:`freeze` was given (an equal one)."""
    return pickle.loads(zlib.decompress(frozen))  # type: ignore[no-any-return]
