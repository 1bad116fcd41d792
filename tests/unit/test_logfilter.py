"""``CollapseRepeats``: one line per kind of trouble with backoff, not one per retry;
``StartupTransients``: a new broker's retried start-up errors held back for a minute."""

from __future__ import annotations

import logging

from streams.logfilter import STARTUP_GRACE_S, CollapseRepeats, StartupTransients


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, name: str = "aiokafka.conn") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, args, None)


class TestCollapseRepeats:
    def test_a_retry_loop_of_thirty_seconds_is_a_handful_of_lines_not_hundreds(self):
        clock = Clock()
        collapse = CollapseRepeats(clock)
        passed = []
        for step in range(3000):  # 100 attempts a second for 30 s, the node id changing
            clock.now = step / 100
            rec = record("Unable connect to node with id %s: [Errno 111] port %s", step % 3, 9092)
            if collapse.filter(rec):
                passed.append(rec.getMessage())
        assert len(passed) == 2  # at 0 s and 10 s (the next is due at 30 s)
        assert passed[1].endswith("(and 999 more like it in the last 10 s; next report in at "
                                  "most 20 s)")

    def test_different_kinds_each_get_their_first_line(self):
        collapse = CollapseRepeats(Clock())
        assert collapse.filter(record("Unable to update metadata from [1]"))
        assert collapse.filter(record("Group Coordinator Request failed"))
        assert not collapse.filter(record("Unable to update metadata from [2]"))

    def test_a_kind_quiet_for_twice_its_backoff_is_reported_at_once_again(self):
        clock = Clock()
        collapse = CollapseRepeats(clock)
        assert collapse.filter(record("broker down"))
        clock.now = 1.0
        assert not collapse.filter(record("broker down"))
        clock.now = 25.0
        rec = record("broker down")
        assert collapse.filter(rec)
        assert rec.getMessage() == "broker down"


def test_ccpulse_own_status_lines_are_never_collapsed():
    """They differ only in numbers (partitions, counts): one per partition or per build must
    all reach the log, or a snapshot refused for one partition goes unexplained."""
    collapse = CollapseRepeats(Clock())
    lines = [record("ccpulse worker: snapshot of cc.calls-%s not used (unreadable)", p,
                    name="faust.stdout") for p in range(4)]
    lines += [record("ccpulse worker: %s engines built in 0.1 s", n, name="faust.stdout")
              for n in (17, 7)]
    assert all(collapse.filter(rec) for rec in lines)


class TestStartupTransients:
    COORDINATOR = "Group Coordinator Request failed: [Error 15] GroupCoordinatorNotAvailableError"

    def test_a_new_brokers_retried_errors_are_held_back_in_the_first_minute_only(self):
        clock = Clock()
        startup = StartupTransients(clock)
        assert not startup.filter(record(self.COORDINATOR + ": "))
        assert not startup.filter(record("Topic %s not found in cluster metadata",
                                         "ccpulse-cc_contacts-changelog", name="aiokafka.cluster"))
        clock.now = STARTUP_GRACE_S
        assert startup.filter(record(self.COORDINATOR + ": "))  # still failing: a fault

    def test_other_errors_and_other_loggers_pass_from_the_start(self):
        startup = StartupTransients(Clock())
        assert startup.filter(record("Unable connect to node with id 1: [Errno 111]"))
        assert startup.filter(record("Group Coordinator Request failed: [Error 30] "
                                     "GroupAuthorizationFailedError"))
        assert startup.filter(record(self.COORDINATOR, name="ccpulse.worker"))

    def test_at_info_level_everything_passes(self):
        assert StartupTransients(Clock(), verbose=True).filter(record(self.COORDINATOR))
