"""The fault suite's store check (``store_check.store_differences``) itself: a store equal to
its changelog at its offset passes; a hole, a record too many or another value is named; a
compacted changelog's superseded records are no false alarm."""

from __future__ import annotations

from store_check import store_differences

LOG = [(0, b"a", b"1"), (1, b"b", b"1"), (2, b"a", b"2"), (3, b"c", b"1"), (4, b"b", None)]


def test_a_store_equal_to_its_changelog_at_its_offset_passes():
    assert store_differences({b"a": b"2", b"b": b"1"}, LOG, 2) == ([], [], [])
    assert store_differences({b"a": b"2", b"c": b"1"}, LOG, 4) == ([], [], [])  # b deleted


def test_a_store_without_records_below_its_offset_is_named():
    """The fault the check was made for: an offset that claims records the store lacks."""
    assert store_differences({b"c": b"1"}, LOG, 4) == ([b"a"], [], [])


def test_a_record_too_many_or_of_another_value_is_named():
    assert store_differences({b"a": b"2", b"b": b"1", b"c": b"1"}, LOG, 4) == ([], [b"b"], [])
    assert store_differences({b"a": b"1", b"b": b"1"}, LOG, 2) == ([], [], [b"a"])


def test_records_a_compaction_removed_are_no_false_alarm():
    """A store written at offset 1 holds a@0; compaction removed a@0 (superseded by a@2):
    the changelog up to 1 no longer has it, and a is left out rather than called too many."""
    compacted = [r for r in LOG if r[0] != 0]
    assert store_differences({b"a": b"1", b"b": b"1"}, compacted, 1) == ([], [], [])
    # a hole no later record explains is still named
    assert store_differences({b"a": b"1"}, compacted[:2], 1) == ([b"b"], [], [])
