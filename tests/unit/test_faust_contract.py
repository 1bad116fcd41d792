"""The faust-streaming internals the worker relies on, pinned so an upgrade that changes them
fails here first (streams/worker/checkpoint.py ``flush_before_commit`` and ``checkpoint``,
streams/worker/inline.py ``install_inline_drain``)."""

from __future__ import annotations

import inspect

import aiokafka
from faust.stores.rocksdb import Store as RocksDBStore
from faust.tables.base import Collection
from faust.transport.consumer import Consumer, Fetcher
from faust.transport.drivers.aiokafka import Producer


def test_consumer_flushes_the_producer_inside_commit_offsets_before_committing():
    source = inspect.getsource(Consumer._commit_offsets)
    assert source.index("await self.app.producer.flush()") < source.index(
        "await self._commit(committable_offsets)")


def test_commit_tps_goes_through_commit_offsets():
    assert "self._commit_offsets(" in inspect.getsource(Consumer._commit_tps)


def test_tables_can_write_their_changelog_to_an_explicit_partition():
    params = inspect.signature(Collection.send_changelog).parameters
    assert list(params)[:4] == ["self", "partition", "key", "value"]


def test_the_fetcher_runs_the_consumers_drain_messages_looked_up_at_run_time():
    source = inspect.getsource(Fetcher)  # ``_fetcher`` is a mode ServiceTask
    assert "await consumer._drain_messages(self)" in source


def test_fausts_fetch_loop_still_has_the_shape_the_inline_loop_mirrors():
    source = inspect.getsource(Consumer._drain_messages)
    for step in ("getmany(timeout=1.0)",
                 "get_read_offset(tp)", "offset >= r_offset", "await self._add_gap(",
                 "self._n_acked >= commit_every", "callback(message)"):
        assert step in source, step
    wait = inspect.getsource(Consumer.getmany)
    assert "self._wait_next_records(timeout)" in wait
    assert "self.perform_seek()" in wait


def test_ack_bookkeeping_is_the_three_structures_acknowledge_writes():
    source = inspect.getsource(Consumer.ack)
    for name in ("self._acked_index[tp]", "self._acked[tp]", "self._n_acked += 1",
                 "self._committed_offset[tp]"):
        assert name in source, name


def test_the_changelog_is_written_with_aiokafkas_batch_api_on_fausts_producer():
    assert callable(Producer._ensure_producer)
    assert callable(aiokafka.AIOKafkaProducer.create_batch)
    assert callable(aiokafka.AIOKafkaProducer.send_batch)


def test_the_rocksdb_store_keeps_one_database_per_partition_and_an_offset_key():
    assert callable(RocksDBStore._db_for_partition)
    assert RocksDBStore.offset_key == b"__faust\0offset__"
    assert "self.offset_key" in inspect.getsource(RocksDBStore.persisted_offset)


def test_aiokafka_finds_a_cached_topic_without_tracking_it_which_checkpoint_works_around():
    """``_wait_on_metadata`` returns a topic's partitions from the metadata cache without
    adding the topic to the tracked set, so later updates drop it (see ``checkpoint``'s
    ``add_topic``). If aiokafka starts tracking it there, the workaround is harmless."""
    source = inspect.getsource(aiokafka.AIOKafkaProducer.send_batch)
    assert "_wait_on_metadata(topic)" in source
    wait = inspect.getsource(aiokafka.client.AIOKafkaClient._wait_on_metadata)
    assert wait.index("return partitions") < wait.index("self.add_topic(topic)")


def test_fausts_consumer_gives_aiokafka_the_apps_max_poll_records():
    """The worker bounds the records taken from aiokafka at a time with Faust's
    ``broker_max_poll_records`` (streams/worker/app.py ``POLL_RECORDS``): Faust must pass it to
    the consumer, and take each batch from aiokafka's fetcher with it."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    create = inspect.getsource(AIOKafkaConsumerThread._create_worker_consumer)
    assert "max_poll_records=conf.broker_max_poll_records" in create
    getmany = inspect.getsource(AIOKafkaConsumerThread.getmany)
    assert "max_records=_consumer._max_poll_records" in getmany
    fetched = inspect.getsource(aiokafka.consumer.fetcher.Fetcher.fetched_records)
    assert "getall(max_records)" in fetched


def test_the_assignment_signal_follows_the_tables_rebalance_and_recovery_sets_completed():
    """``Pipeline._on_assigned`` clears the recovery's ``completed`` in the
    ``on_partitions_assigned`` signal: sent after ``tables.on_rebalance`` set the new
    generation's recovery going, and only a recovery that is still current sets it again."""
    from faust.app.base import App
    from faust.tables.recovery import Recovery

    assigned = inspect.getsource(App._on_partitions_assigned)
    assert assigned.index("self.tables.on_rebalance") < assigned.index(
        "self.on_partitions_assigned.send")
    for finish in (Recovery.on_recovery_completed, Recovery._resume_streams):
        source = inspect.getsource(finish)
        assert source.index("self.app.consumer_generation_id != generation_id") < (
            source.index("self.completed.set()"))
        assert "self.app.on_rebalance_end()" in source or "app.on_rebalance_end()" in source


def test_the_recovery_reads_actives_while_in_recovery_and_standbys_after_it():
    """``streams.worker.restore.next_to_restore`` takes an active changelog partition as being
    read only while ``Recovery.in_recovery`` (set when a recovery starts, cleared when its
    actives are read), and the recovery's offsets as the last offset applied (its seeks go to
    them, records at or below them are skipped)."""
    from faust.tables.recovery import Recovery

    assert "self.in_recovery = True" in inspect.getsource(Recovery._set_recovery_started)
    assert "self.in_recovery = False" in inspect.getsource(Recovery._set_recovery_ended)
    slurp = inspect.getsource(Recovery._slurp_changelogs.fun)
    assert "if seen_offset is None or offset > seen_offset:" in slurp
    restart = inspect.getsource(Recovery._restart_recovery.fun)
    assert restart.index("self._set_recovery_started()") < restart.index(
        "Build offsets for active partitions")
    assert restart.index("Recovery complete") < restart.index("Starting standby partitions")


def test_a_seek_moves_the_read_offset_the_inline_loop_compares_batches_with():
    source = inspect.getsource(Consumer.seek)
    assert "await self._seek(partition, offset)" in source
    assert "self._read_offset[ensure_TP(partition)] = offset" in source


def test_aiokafka_gives_the_consumers_isolation_level_to_the_fetcher_it_makes_in_start():
    # streams/worker/isolation.py sets ``_isolation_level`` on the consumer before start
    source = inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    assert "self._fetcher = Fetcher(" in source
    assert "isolation_level=self._isolation_level" in source
