"""The hot path: each fetched batch of a source topic is applied inline in Faust's fetch loop.

Faust hands every message to a stream one at a time: the fetch loop wraps each in a
``ConsumerMessage``, races it against the flow-control event with two new tasks
(``Service.wait_first``), the conductor decodes it into an ``Event`` and queues it, and the
agent's stream takes it off the queue and acks it. Measured with py-spy, that machinery took
~75 % of a worker's time and ccpulse's own work 23 % (an agent that does nothing tops out near
14,500 events/s on 2 cores).

:func:`install_inline_drain` keeps Faust for what it is for — the consumer group, partition
assignment, tables and their changelogs, standbys, offset commits, the web server — and
replaces only its fetch loop (``Consumer._drain_messages``) with one that gives each fetched
batch of a source topic to a handler in chunks, synchronously, then acknowledges the chunk's
offsets exactly as ``Consumer.ack`` would. The tables' changelogs, read during recovery and by
standbys, are written to the local store a batch at a time (``streams.worker.restore``);
anything else it fetches takes Faust's own path, message by message.

The guarantees are Faust's, unchanged:

* **State before offsets.** A chunk's offsets are acknowledged only after the handler applied
  it; the records it changed are written to the changelog right before Faust commits those
  offsets (:func:`streams.worker.checkpoint.flush_before_commit`). A crash replays from the last
  commit and the engines drop what they already hold by event id.
* **Rebalances.** Between chunks, the rest of a batch fetched for an older consumer generation,
  or once Faust has stopped the flow, is abandoned unacknowledged: Faust seeks back to the
  committed offsets and it is fetched again (a chunk the handler had begun is acknowledged;
  Faust discards the commit of a partition it revoked). A batch ``prepare`` refuses outside a
  rebalance is read again from its first record (a seek back): the read offset and the fetch
  position are already past it, and nothing else would bring it back.
* **Gaps and commits.** Offsets missing from a partition (compaction, transaction markers) are
  recorded as gaps, and ``broker_commit_every`` triggers a commit, as in Faust's loop; the
  commit runs beside the next chunks (one at a time) instead of holding them up.
* **No event skipped unread.** Faust's loop records as a gap any hole between a partition's read
  offset and the first offset of the next batch. Right after a rebalance that leaves a partition
  where it was, that hole can be real events — the rest of a batch abandoned at the revoke, which
  the consumer's fetch position had passed (seen: a rolling restart lost a few dozen chat events
  this way). For a source topic the loop reads such a hole again instead: it seeks back to the next
  offset to apply, or to the group's committed offset for a partition not read since its assignment,
  and records a gap only when the same hole comes back, which only a real one does (logged: ``…
  absent when read again``). Faust's read offset is the last offset read, except right after a seek
  (to the committed offsets at an assignment), when it is the next one to read: the loop tells the
  two apart by the read offsets it set itself in the current consumer generation. (Until 2026-12-04
  it took every read offset for either, so a fetch that began one past the commit after a rolling
  restart's rebalance skipped that one event: a ticket's ``created``, in a fault test's fresh-clone
  run.) A hole is real only if it comes back in the same consumer generation with none of the
  partition's records let go of in between (skipped, abandoned: the hole may then be the loop's
  own): one read again before a rebalance is read again after it.
* **No changelog record passed over unrestored.** Faust seeks a changelog partition only when a
  recovery starts; a batch of one the loop leaves unapplied (abandoned with the rest of a fetch,
  or skipped while the partition was paused: aiokafka's ``fetched_records`` drains every
  partition when Faust's live set of unpaused ones is empty, as it is while a recovery positions
  its standbys) is not fetched again by itself, and the next batch begins after it. Applying
  that one would move the store's persisted offset past records the store never got, for good
  (until 2026-12-06: a rolling restart's worker built an engine without a tenth of its
  partition). So when the loop lets go of records of a changelog partition being restored, it
  seeks the partition back at once to the next record the recovery needs (``restore_from``;
  logged: ``… read again from``), and checks the partition's next batch against it as a source
  topic's hole (a safety net: aiokafka drops what it fetched before a seek, so only a seek that
  failed, or records compaction removed at that offset, leave a hole there). A hole with
  nothing let go before it is compaction's (it removes offsets, so a fetch's offsets jump): it
  is restored as it comes, with no second fetch.

faust-streaming 0.15.x has no hook for this; ``tests/unit/test_faust_contract.py`` pins every
internal used here so an upgrade that changes them fails there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types.tuples import ack_lock

log = logging.getLogger("ccpulse.worker")

#: Records applied between two returns to the event loop: a scrape or a heartbeat waits at most
#: this many events (~30 ms at 30,000 events/s).
CHUNK = 1000


class Record(Protocol):
    """An aiokafka ``ConsumerRecord``: what the handler is given."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


#: ``handler(tp, records)`` applies all of ``records`` (one partition, in offset order) and
#: returns when they are applied; it must handle every error of an event itself (an exception
#: escaping it stops the worker: nothing is acknowledged past what was applied).
BatchHandler = Callable[[Any, Sequence[Record]], Awaitable[None]]


def acknowledge(consumer: Any, tp: Any, offsets: Sequence[int]) -> int:
    """Mark ``offsets`` of ``tp`` processed, as ``Consumer.ack`` does for one message each:
    offsets below the committed one, or already acknowledged, are ignored. Returns how many
    were new."""
    added = 0
    with ack_lock:
        committed = consumer._committed_offset[tp]
        index = consumer._acked_index[tp]
        acked = consumer._acked[tp]
        new = set(offsets)
        if (new and len(new) == len(offsets) and (committed is None or min(new) >= committed)
                and index.isdisjoint(new)):  # the usual chunk: every offset is new
            index |= new
            acked.extend(offsets)
            added = len(offsets)
        else:
            for offset in offsets:
                if (committed is None or offset >= committed) and offset not in index:
                    index.add(offset)
                    acked.append(offset)
                    added += 1
        consumer._n_acked += added
    return added


#: ``restore(tp, records)`` applies a batch of a changelog partition that Faust's recovery is
#: reading and returns True, or returns False (nothing applied) for any other partition, or None
#: (nothing applied, nothing given to Faust) for one the recovery reads, but not now (not yet
#: positioned: its own seek reads it again; an active one read to its end).
RestoreHandler = Callable[[Any, Sequence[Record]], bool | None]


def install_inline_drain(app: Any, inline: Callable[[str], bool],
                         handler: BatchHandler, chunk: int = CHUNK,
                         restore: RestoreHandler | None = None,
                         prepare: Callable[[Any], Awaitable[bool]] | None = None,
                         restore_from: Callable[[Any], int | None] | None = None,
                         ) -> Callable[[Any], bool]:
    """Replace ``app.consumer``'s fetch loop with one that hands the batches of every topic for
    which ``inline(topic)`` is true to ``handler`` (see :data:`BatchHandler`), and those
    ``restore`` accepts (changelogs being recovered) to ``restore``: Faust's own path then gets
    only each batch's last record, which it finds applied and uses to check whether recovery is
    complete. ``prepare(tp)``, if given, is awaited before each chunk (the worker waits there
    for the partition's engine to be rebuilt); when it returns False (the partition is not
    the worker's to apply) or a rebalance happened meanwhile, the batch is abandoned,
    unacknowledged. ``restore_from(tp)``, if given, is the next offset of a changelog partition
    that ``restore`` has not applied (None: one it does not restore now): records of it the
    loop lets go of unapplied (abandoned, or skipped while the partition was paused) are read
    again from there, never passed over.

    Returns ``holds(tp)``: whether the loop has taken records of partition ``tp`` from
    aiokafka that it has not finished with (applied, handed to Faust, or abandoned).

    Raises ``RuntimeError`` at start-up when Faust's consumer lacks an internal this relies on.
    """
    consumer = app.consumer
    required = ("_drain_messages", "_wait_next_records", "_read_offset", "_acked",
                "_acked_index", "_committed_offset", "_add_gap", "_to_message", "callback",
                "suspend_flow", "_buffered_partitions", "perform_seek", "commit", "seek")
    missing = [name for name in required if not hasattr(consumer, name)]
    if missing:
        raise RuntimeError("faust's Consumer changed: the inline fetch loop needs "
                           + ", ".join(missing))

    #: Partition -> (consumer generation, next offset needed, first offset fetched) of the
    #: last hole read again: the same hole again in the same generation, with no records of
    #: the partition let go of in between (:func:`_let_go`), is a real one.
    sought_back: dict[Any, tuple[int, int | None, int | None]] = {}
    #: Changelog partitions being restored whose fetched records the loop let go of
    #: unapplied, not restored since: their next batch is checked for a hole.
    let_go: set[Any] = set()
    #: Partition -> (consumer generation, offset): the read offset this loop last set, the
    #: last offset it read. Faust's read offset means two things: the last offset read, as
    #: this loop (and Faust's own) sets it, or, right after a seek (``perform_seek`` to the
    #: committed offsets at an assignment, ``seek``), the next offset to read. Only a read
    #: offset this loop set in this generation is the last one read (:func:`_next_offset`).
    read_here: dict[Any, tuple[int, int]] = {}

    def _next_offset(tp: Any, last: int | None) -> int | None:
        """The next offset of ``tp`` to apply, given its read offset ``last``: after it
        when this loop read it, at it when a seek set it, the group's commit with none."""
        if last is None:
            return consumer._committed_offset[tp]  # type: ignore[no-any-return]
        if read_here.get(tp) == (app.consumer_generation_id, last):
            return last + 1
        return last

    def _read_to(tp: Any, offset: int) -> None:
        """Set ``tp``'s read offset to ``offset``, an offset this loop has read."""
        read_offset[tp] = offset
        read_here[tp] = (app.consumer_generation_id, offset)

    read_offset = consumer._read_offset
    #: Partitions of the records taken from aiokafka that the loop has not finished with.
    holding: set[Any] = set()

    async def drain(fetcher: Any) -> None:
        consumer_should_stop = consumer._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        acks_enabled_for = app.topics.acks_enabled_for
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                consumer.diag.set_flag(CONSUMER_FETCHING)
                records, active = await consumer._wait_next_records(1.0)
                await consumer.sleep(0)
                if records is None or consumer.should_stop:
                    continue
                if not consumer.flow_active:
                    # as Faust's getmany: records fetched while the flow is stopped are
                    # dropped and the partitions sought back to their commits; a seek that
                    # fails (a partition the rebalance under way has just taken away) is
                    # logged, and the next assignment seeks again
                    read_here.clear()  # read offsets at the commits: the next to read
                    try:
                        await consumer.perform_seek()
                    except Exception as exc:  # Faust's getmany does the same
                        log.warning("seek back to the committed offsets failed while the "
                                    "flow is stopped (a rebalance): %r", exc)
                    # perform_seek moves the sources; the changelogs being restored are
                    # sought back here (a source's entry of holes read again is dropped)
                    await _let_go_of(records)
                    continue
                generation = app.consumer_generation_id

                def current(generation: int = generation) -> bool:
                    return consumer.flow_active and app.consumer_generation_id == generation

                holding.update(records)  # each let go once the next is begun, all at the end
                #: the partitions whose batch is not yet applied, handed on or sought back
                unapplied = dict.fromkeys(records)
                finished = None
                for tp, batch in records.items():
                    holding.discard(finished)
                    finished = tp
                    if not current():
                        break
                    if not (active is None or tp in active
                            or tp in consumer._buffered_partitions):
                        continue  # paused: let go of after the fetch (below)
                    app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
                    fresh = []
                    last = read_offset[tp]
                    offsets = [record.offset for record in batch]
                    first = offsets[0] if offsets else None
                    start = _next_offset(tp, last)
                    # the next offset the partition's state needs: a source topic's next
                    # event to apply; a changelog's next record to restore, once the loop let
                    # records of it go (else a hole is compaction's); None: neither
                    applies = inline(tp.topic)
                    needed = start if applies else (
                        restore_from(tp) if restore_from is not None and tp in let_go
                        else None)
                    hole = (generation, needed, first)
                    if (needed is not None and first is not None and first > needed
                            and sought_back.get(tp) != hole):
                        # A hole before the batch: never skipped unread (below).
                        sought_back[tp] = hole
                        log.info("ccpulse worker: %s-%d: fetched from offset %d, the next to "
                                 "%s is %d: read again from there", tp.topic, tp.partition,
                                 first, "apply" if applies else "restore", needed)
                        await _seek_back(tp, needed)
                        del unapplied[tp]
                        continue
                    if sought_back.pop(tp, None) == hole and needed is not None:
                        # the same hole after the seek back: offsets the broker does not
                        # give (compacted, transaction markers, aborted transactions, deleted
                        # by retention), passed over (recorded as a gap below, except at a
                        # read offset of None, where Faust records none either). One of
                        # ccpulse's own lines, like the read-again line before it: never
                        # collapsed, so each partition's hole is named. A hole inside a batch
                        # is not read again nor logged: the broker skipped it within one
                        # response.
                        absent = (f"offset {needed} is" if first - needed == 1
                                  else f"offsets {needed} to {first - 1} are")
                        log.info("ccpulse worker: %s-%d: %s absent when read again: passed "
                                 "over (transaction markers, aborted transactions, compacted "
                                 "or deleted records)",
                                 tp.topic, tp.partition, absent)
                    if (first is not None and (last is None or first >= last)
                            and offsets == list(range(first, first + len(offsets)))):
                        # the usual batch: consecutive offsets from the read offset on (what
                        # the loop below does, record by record, with one gap at most)
                        if last is not None and start is not None and first > start \
                                and acks_enabled_for(tp.topic):
                            await consumer._add_gap(tp, start, first)
                        fresh = list(batch)
                        _read_to(tp, batch[-1].offset)
                    else:
                        for record in batch:
                            offset = record.offset
                            last = read_offset[tp]
                            if last is None or offset >= last:
                                start = _next_offset(tp, last)
                                if (last is not None and start is not None
                                        and offset > start and acks_enabled_for(tp.topic)):
                                    await consumer._add_gap(tp, start, offset)
                                fresh.append(record)
                                _read_to(tp, offset)
                    if not fresh:
                        del unapplied[tp]  # all read before
                        continue
                    if inline(tp.topic):
                        if not await _apply(tp, fresh, current):
                            break  # cut short: let go of (below)
                        del unapplied[tp]
                    elif restore is not None and (restored := restore(tp, fresh)) is not False:
                        if restored:  # else not now (not positioned yet, or read to its end)
                            del unapplied[tp]
                            let_go.discard(tp)
                            if not await _deliver(tp, fresh[-1:], current):
                                break
                    else:
                        del unapplied[tp]  # Faust's own path from here
                        if not await _deliver(tp, fresh, current):
                            break
                if unapplied:
                    await _let_go_of(unapplied)
                holding.clear()
                consumer.diag.unset_flag(CONSUMER_FETCHING)
        except consumer.consumer_stopped_errors:
            if consumer.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if consumer.transport.app.should_stop:
                return
            raise
        finally:
            holding.clear()
            consumer.diag.unset_flag(CONSUMER_FETCHING)

    #: The commit ``broker_commit_every`` started, while it runs (at most one).
    committing: list[asyncio.Future[Any]] = []

    def may_commit() -> bool:
        """No commit started here is still running; one that failed raises its error here,
        and so stops the fetch loop as an awaited one did."""
        if committing and committing[0].done():
            committing.pop().result()
        return not committing

    async def _apply(tp: Any, records: list[Any], current: Callable[[], bool]) -> bool:
        """Apply ``records`` in chunks; False when a rebalance cut the batch short.

        A commit that ``broker_commit_every`` calls for runs beside the next chunks instead
        of holding them up: it writes the changelog, waits for Kafka and the local store,
        then commits offsets (~0.1-0.3 s on a backlog of call events, a fifth of the time
        when awaited here). It commits only offsets acknowledged before it started, whose
        records its checkpoint takes before its first await (Faust's commit timer runs
        beside this loop the same way); the next starts once it has finished."""
        commit_every = consumer._commit_every
        for start in range(0, len(records), chunk):
            part = records[start:start + chunk]
            if prepare is not None and not await prepare(tp):
                if current():
                    # not a rebalance (which seeks back itself): the read offset and the
                    # fetch position are past these records, so read them again from here
                    await _seek_back(tp, part[0].offset)
                return False
            if not current():
                return False
            await handler(tp, part)
            acknowledge(consumer, tp, [r.offset for r in part])
            if not current():
                return False
            if (commit_every is not None and consumer._n_acked >= commit_every
                    and may_commit()):
                consumer._n_acked = 0
                committing.append(asyncio.ensure_future(consumer.commit()))
            await asyncio.sleep(0)  # let scrapes, heartbeats and commits in
            if not current():
                return False
        return True

    async def _let_go_of(tps: Iterable[Any]) -> None:
        """The loop took these partitions' fetched records from aiokafka and leaves them
        unapplied (skipped while paused, abandoned with the rest of a fetch, fetched while the
        flow was stopped, or a batch ``restore`` refused before the recovery positioned its
        partition): the consumer's position is past them. A hole after them is the loop's,
        never a real one; and a changelog partition being restored is read again at once
        from the next record it needs, as nothing else would (Faust seeks a changelog only
        when a recovery starts, and no later batch may come to show the hole), in one line
        of the log. A source partition's next batch shows its hole (or the next assignment's
        seek to the group's commit reads it again); a refused batch's partition is
        positioned by the recovery's own seek."""
        sought: list[str] = []
        for tp in tps:
            sought_back.pop(tp, None)
            if restore_from is None or inline(tp.topic):
                continue
            needed = restore_from(tp)
            if needed is None:
                continue  # not restored now: the next recovery positions it
            let_go.add(tp)
            read_here.pop(tp, None)  # the read offset is the next to read from now on
            try:
                await consumer.seek(tp, needed)
            except Exception as exc:  # not assigned any more: the next recovery seeks it
                log.debug("no seek back of changelog %s-%d to %d: %r", tp.topic,
                          tp.partition, needed, exc)
            else:
                sought.append(f"{tp.topic}-{tp.partition} from {needed}")
        if sought:
            log.info("ccpulse worker: changelog records fetched and not restored (their "
                     "partitions paused, or the fetch cut short): read again from the next "
                     "record each needs: %s", ", ".join(sought))

    async def _seek_back(tp: Any, offset: int) -> None:
        """Fetch ``tp`` again from ``offset``: records abandoned unapplied are never skipped."""
        read_here.pop(tp, None)  # the read offset is the next to read from now on
        try:
            await consumer.seek(tp, offset)
        except Exception as exc:  # not assigned any more: the next assignment seeks again
            # the read offset the seek would have set: the next to read, whatever the loop
            # set before (a refused chunk's batch's last offset read)
            read_offset[tp] = offset if offset else None
            log.info("ccpulse worker: %s-%d: no seek back to %d (%r): the next assignment "
                     "reads from the group's commit", tp.topic, tp.partition, offset, exc)

    async def _deliver(tp: Any, records: list[Any], current: Callable[[], bool]) -> bool:
        """Faust's own path, one message at a time (changelogs in recovery, standbys)."""
        callback = consumer.callback
        commit_every = consumer._commit_every
        for record in records:
            if not current():
                return False
            if commit_every is not None and consumer._n_acked >= commit_every:
                consumer._n_acked = 0
                await consumer.commit()
            await consumer.wait_first(callback(consumer._to_message(tp, record)),
                                      consumer.suspend_flow.wait())
        return True

    consumer._drain_messages = drain
    return holding.__contains__
