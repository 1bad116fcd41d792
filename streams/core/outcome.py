"""What applying one event did: :class:`Outcome` (the shell counts these per topic).

A module of its own, not compiled (streams.compiled): mypyc 1.13 cannot compile a module
whose code reads the members of a ``StrEnum`` it defines.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What applying one event did (the shell counts these per topic)."""

    APPLIED = "applied"
    LATE = "late"  # older than its entity's retention behind stream time: not applied
    DUPLICATE = "duplicate"
    UNTRACKED = "untracked"  # valid, but no entity kind of this release keeps its family
