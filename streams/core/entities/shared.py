"""Values many entities hold alike, held once.

Thousands of customers contribute the same ``Count`` of a month (one interaction, a plan's
price of revenue), thousands of tickets the same ``Count`` of their queue and channel (one
ticket created, solved, one response). Each entity keeps its contributions in a list for as
long as it is kept (a customer 13 months); with equal values shared, each costs the list's
pointer instead of a named tuple, its labels tuple and its amount. Only immutable values are
shared (ints, and ``Count`` tuples of strings and ints), so sharing changes no value.
"""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")

#: (type, value) -> the value held. Bounded: emptied when full (what entities hold stays
#: valid; only later copies are no longer shared until the values come again).
_HELD: dict[tuple[type, Any], Any] = {}
MAX_HELD = 100_000


def shared(value: T) -> T:
    """``value``, or an equal value of the same type held already. The key carries the type:
    ``1 == True == 1.0``, and a named tuple equals a plain tuple of the same items."""
    key = (value.__class__, value)
    held = _HELD.get(key)
    if held is None:
        if len(_HELD) >= MAX_HELD:
            _HELD.clear()
        _HELD[key] = held = value
    return held  # type: ignore[no-any-return]
