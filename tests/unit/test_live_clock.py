"""Live contact ages of a worker whose feed is behind the wall clock (issue 8, part 3).

The worker's live gauges (waiting now, oldest wait, stale) are read at each partition's *live
clock* (``WorkerState.live_clock``): the wall clock while the partition's feed is live, the
wall clock less the feed's delay while it is behind (a backlog being read, a feed sending
events long after they happened). Without it a catch-up aged every contact that had just
joined at stream time by the whole delay: 19–36 minutes of oldest wait for nobody.

The worker is driven as the Faust app drives it: each message goes through ``ingest`` into
``state.engine(tp)``, then ``state.last_offsets[tp] = offset``; the wall clock is a fake.
"""

from __future__ import annotations

import itertools

import orjson
import pytest

from streams.core.config import parse_config
from streams.core.kpis import all_families, contact_families
from streams.core.timestamps import MINUTE_US, SECOND_US, format_us, parse_us
from streams.ingest import ingest
from streams.worker.state import IDLE_AFTER_US, LIVE_WITHIN_US, TP, WorkerState

T0 = parse_us("2026-11-30T09:00:00Z")
CALLS0: TP = ("cc.calls", 0)
CALLS1: TP = ("cc.calls", 1)


class Clock:
    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> int:
        return self.at


class Worker:
    """A ``WorkerState`` fed message by message, as ``streams.worker.app`` feeds it."""

    def __init__(self, **raw: object) -> None:
        self.clock = Clock(T0)
        self.state = WorkerState(parse_config(raw), {}, clock_us=self.clock)
        self.offsets: dict[TP, itertools.count] = {}
        self.ids = itertools.count(1)

    def read(self, tp: TP, type_: str, at_us: int, **body: object) -> str:
        """Handle one message on ``tp`` at the current wall clock; returns the outcome."""
        raw = orjson.dumps({"event_id": f"e{next(self.ids)}", "type": type_,
                            "occurred_at": format_us(at_us), **body})
        return self.read_raw(tp, raw)

    def read_raw(self, tp: TP, raw: bytes) -> str:
        done = ingest(raw, self.state.engine(tp), self.state.stats, topic=tp[0],
                      now_us=self.clock())
        self.state.last_offsets[tp] = next(self.offsets.setdefault(tp, itertools.count()))
        return done.outcome

    def gauge(self, name: str, queue: str = "sales", channel: str = "voice") -> float:
        for fam in self.state.families(self.state.engines):
            if fam.name == name:
                return fam.samples.get((queue, channel), 0)
        raise AssertionError(f"no family {name}")

    def oldest(self, queue: str = "sales") -> float:
        return self.gauge("cc_queue_oldest_wait_seconds", queue)

    def waiting(self, queue: str = "sales") -> float:
        return self.gauge("cc_queue_contacts_waiting", queue)


def queued(w: Worker, tp: TP, call_id: str, at_us: int, queue: str = "sales") -> None:
    assert w.read(tp, "call.queued", at_us, call_id=call_id, queue=queue) == "applied"


def answered(w: Worker, tp: TP, call_id: str, at_us: int, queue: str = "sales") -> None:
    assert w.read(tp, "call.answered", at_us, call_id=call_id, queue=queue,
                  agent_id="a1") == "applied"


def backlog(w: Worker, tp: TP, start_us: int, minutes: int, prefix: str) -> None:
    """A busy queue: a call every 30 s, each answered 20 s after it queued."""
    for i in range(minutes * 2):
        at = start_us + i * 30 * SECOND_US
        queued(w, tp, f"{prefix}{i}", at)
        answered(w, tp, f"{prefix}{i}", at + 20 * SECOND_US)


def test_a_backlog_being_read_shows_contacts_that_just_joined_as_just_joined():
    """The reported bug: 30 minutes of backlog, read in a burst, a call that had just joined
    when the partition's stream time is reached is 5 s old, not 30 minutes."""
    w = Worker()
    w.clock.at = T0 + 30 * MINUTE_US  # the outage is over: the worker reads what it missed
    backlog(w, CALLS0, T0, 10, "old")
    end = T0 + 10 * MINUTE_US
    queued(w, CALLS0, "joined", end)
    answered(w, CALLS0, "old19", end + 5 * SECOND_US)  # stream time moves 5 s on
    assert w.waiting() == 1
    assert w.oldest() == pytest.approx(5.0)
    w.clock.at += 2 * SECOND_US  # a scrape between two reads: the feed's time moves on
    assert w.oldest() == pytest.approx(7.0)


def test_a_feed_that_is_half_an_hour_behind_shows_its_ages_as_of_its_event_time():
    """The demo's simulator fast-forwarding through the last hour: the worker keeps up
    (no consumer lag) but every event is read long after it happened."""
    w = Worker()
    delay = 30 * MINUTE_US
    for i in range(6):
        at = T0 + i * 10 * SECOND_US
        w.clock.at = at + delay
        queued(w, CALLS0, f"c{i}", at)
    assert w.waiting() == 6
    assert w.oldest() == pytest.approx(50.0)  # c0 queued 50 s before the newest event
    w.clock.at += 5 * SECOND_US
    assert w.oldest() == pytest.approx(55.0)
    w.clock.at += IDLE_AFTER_US  # nothing read for a while: its topic is behind as much
    assert w.oldest() == pytest.approx(65.0)


def test_a_quiet_partition_of_a_live_feed_ages_with_the_wall_clock():
    """Nothing to read is not being behind: a call waiting alone on a quiet partition at
    night grows older by the wall clock, as docs/contract.md §3.1 says."""
    w = Worker()
    w.clock.at = T0 + 300_000  # read 0.3 s after it happened
    queued(w, CALLS0, "night", T0)
    w.clock.at = T0 + 10 * MINUTE_US
    assert w.oldest() == pytest.approx(600.0)
    assert w.state.live_clock(CALLS0) == w.clock.at


def test_a_feed_less_than_a_minute_behind_is_live():
    """A pipeline's own latency changes nothing: the worker equals the replay --as-of now."""
    w = Worker()
    w.clock.at = T0 + LIVE_WITHIN_US - SECOND_US
    queued(w, CALLS0, "c1", T0)
    assert w.oldest() == pytest.approx((LIVE_WITHIN_US - SECOND_US) / SECOND_US)
    w.clock.at = T0 + 2 * LIVE_WITHIN_US
    queued(w, CALLS0, "c2", T0 + SECOND_US)  # now read 119 s after it happened: behind
    assert w.oldest() == pytest.approx(1.0)


def test_a_partition_whose_backlog_ended_early_follows_its_topic_once_that_is_live():
    """After a catch-up, partition 0's last event was 20 minutes old when read; partition 1
    then reads fresh events. Once partition 0 is idle its waiting call ages by the wall
    clock again (nothing more of it to read: the call is still waiting)."""
    w = Worker()
    w.clock.at = T0 + 20 * MINUTE_US
    queued(w, CALLS0, "p0", T0)
    assert w.oldest() == pytest.approx(0.0)
    queued(w, CALLS1, "p1", w.clock.at - SECOND_US)  # live
    assert w.oldest() == pytest.approx(1.0), "partition 0 is still being read"
    w.clock.at += IDLE_AFTER_US + SECOND_US
    assert w.oldest() == pytest.approx(20 * 60 + 11.0)


def test_other_topics_say_nothing_about_a_topics_delay():
    """Each topic has its own producer: a live agents feed does not make a calls feed
    that is behind look live."""
    w = Worker()
    w.clock.at = T0 + 30 * MINUTE_US
    queued(w, CALLS0, "c1", T0)
    assert w.read(("cc.agents", 0), "agent.state_changed", w.clock.at, agent_id="a1",
                  state="available", queues=["sales"]) == "applied"
    w.clock.at += IDLE_AFTER_US + SECOND_US
    assert w.oldest() == pytest.approx(11.0)


def test_reads_that_do_not_move_stream_time_say_nothing_about_the_delay():
    """An invalid message, a duplicate or an older event read now on a quiet live partition
    does not make it look behind."""
    w = Worker()
    w.clock.at = T0 + SECOND_US
    queued(w, CALLS0, "c1", T0)
    w.clock.at = T0 + 20 * MINUTE_US
    assert w.read_raw(CALLS0, b"{not json") == "invalid"
    assert w.read(CALLS0, "call.queued", T0 - MINUTE_US, call_id="c0",
                  queue="support") == "applied"  # older than stream time
    assert w.oldest() == pytest.approx(20 * 60.0)


def test_a_contact_is_stale_by_its_feeds_time_not_by_the_wall_clock():
    """While the feed is 5 hours behind, a call that waited 1 minute by event time is
    waiting, not stale (stale_after_seconds 4 h)."""
    w = Worker()
    w.clock.at = T0 + 5 * 60 * MINUTE_US
    queued(w, CALLS0, "c1", T0)
    queued(w, CALLS0, "c2", T0 + MINUTE_US)
    assert w.waiting() == 2
    assert w.gauge("cc_contacts_stale_total") == 0
    assert w.oldest() == pytest.approx(60.0)


def test_a_rebuilt_partition_follows_its_topics_freshest_read():
    """After a restart the engines are rebuilt from their tables: no read yet. With no
    evidence at all, the wall clock (the contract's engine clock); once its topic reads, that."""
    w = Worker()
    assert w.state.live_clock(CALLS0) == w.clock.at
    w.clock.at = T0 + 30 * MINUTE_US
    queued(w, CALLS1, "c1", T0)
    w.state.engine(CALLS0)  # rebuilt, nothing read
    assert w.state.live_clock(CALLS0) == T0
    w.state.drop([CALLS0])
    assert CALLS0 not in w.state.feeds


def test_the_replay_and_a_default_read_use_one_clock_for_every_ledger():
    """``live_us`` defaults to ``now_us``: the replay (and every caller that does not pass
    it) reads live ages at the engine clock, as before."""
    w = Worker()
    w.clock.at = T0 + 30 * MINUTE_US
    queued(w, CALLS0, "c1", T0)
    ledgers = [w.state.engines[CALLS0].ledger]
    config = w.state.config
    default = {f.name: f.samples for f in all_families(config, ledgers, w.clock.at)}
    explicit = {f.name: f.samples for f in all_families(config, ledgers, w.clock.at,
                                                         [w.clock.at])}
    assert default == explicit
    assert default["cc_queue_oldest_wait_seconds"][("sales", "voice")] == 30 * 60.0
    as_of = {f.name: f.samples for f in contact_families(config, ledgers, w.clock.at,
                                                          [T0 + 7 * SECOND_US])}
    assert as_of["cc_queue_oldest_wait_seconds"][("sales", "voice")] == 7.0
    with pytest.raises(ValueError):
        contact_families(config, ledgers, w.clock.at, [])
