"""The two faust-streaming internals the worker relies on, pinned so an upgrade that changes
them fails here first (see streams/worker/app.py ``_flush_before_commit``)."""

from __future__ import annotations

import inspect

from faust.tables.base import Collection
from faust.transport.consumer import Consumer


def test_consumer_flushes_the_producer_inside_commit_offsets_before_committing():
    source = inspect.getsource(Consumer._commit_offsets)
    assert source.index("await self.app.producer.flush()") < source.index(
        "await self._commit(committable_offsets)")


def test_commit_tps_goes_through_commit_offsets():
    assert "self._commit_offsets(" in inspect.getsource(Consumer._commit_tps)


def test_tables_can_write_their_changelog_to_an_explicit_partition():
    params = inspect.signature(Collection.send_changelog).parameters
    assert list(params)[:4] == ["self", "partition", "key", "value"]
