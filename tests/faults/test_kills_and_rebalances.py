"""Workers killed, replaced and restarted while events flow: nothing lost, nothing twice.

Every scenario sends a mixed stream (calls, chats, agents, tickets, surveys, QA reviews,
customers) at a steady rate through the real broker while workers are killed (SIGKILL: no
clean shutdown, no last commit), replaced, or restarted one at a time, and then compares what
the workers export with ``ccpulse replay`` of exactly the events sent: one worker sample for
sample, several summed over the families a fleet sums, each partition exported once.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from fault_harness import (
    SteadyFeed,
    mixed_events,
    stop_and_check_stores,
    wait_equals_replay,
    wait_fleet_equals_replay,
    write_lines,
)
from worker_harness import Worker, free_port, wait_for

KILLS = 5
KILL_EVENTS = 100_000
#: Events per second while the workers are killed: the first 90,000 flow in 45 s; the last
#: tenth waits for the fifth restart (each ~3-4 s here: the restarted worker removes its
#: killed member from the group instead of waiting for it), so the kills land mid-stream
#: however long the restarts take.
KILL_RATE = 2_000.0
FLEET_EVENTS = 20_000
#: The fleet's feed lasts ~33 s: the changes of membership happen while it flows (its last
#: fifth waits for them to end).
FLEET_RATE = 600.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def start_together(workers: list[Worker]) -> None:
    """Start every worker at once (a fleet's pods do), then wait for each to be up."""
    for worker in workers:
        worker.launch()
    for worker in workers:
        worker.wait_up()


def test_five_sigkills_at_random_moments_while_100000_events_flow_lose_and_double_nothing(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> None:
    rng = random.Random(20261201)
    lines = mixed_events(KILL_EVENTS, seed=31)
    path = write_lines(tmp_path / "events.jsonl", lines)
    prefix, port = unique_name + ".", free_port()
    # The moments: when the feed has sent these many events (the kill waits for the previous
    # restart to be ready, so a slow restart moves its kill later, never two at once).
    moments = sorted(rng.sample(range(len(lines) // 20, len(lines) * 7 // 10), KILLS))
    # Restarts keep the data directory (a pod with its volume), except the third: a new node
    # that recovers from the changelogs alone.
    data_dirs = ["node-a", "node-a", "node-b", "node-b", "node-b", "node-b"]
    worker = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / data_dirs[0], port)
    worker.start()
    killed_at = []
    try:
        # the last tenth waits until the last restart: every kill lands mid-stream however
        # slow the machine
        with SteadyFeed(kafka_bootstrap, prefix, lines, KILL_RATE,
                        held=len(lines) // 10) as feed:
            for n, moment in enumerate(moments, start=1):
                wait_for(lambda m=moment: feed.sent >= m,
                         f"the feed to reach event {moment:,}", worker, timeout_s=180)
                worker.kill()
                killed_at.append(feed.sent)
                say(f"kill {n}: SIGKILL after {feed.sent:,} events sent")
                worker = Worker(kafka_bootstrap, unique_name, prefix,
                                tmp_path / data_dirs[n], port)
                worker.start()
            feed.release()
        # every kill landed while events were still flowing
        assert all(sent < len(lines) for sent in killed_at), killed_at
        wait_equals_replay(worker, path)
        stop_and_check_stores(kafka_bootstrap, unique_name, [worker],
                              [tmp_path / d for d in dict.fromkeys(data_dirs)])
    finally:
        worker.stop()


def test_three_workers_one_killed_and_a_new_one_started_mid_stream_sum_to_the_replay(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> None:
    lines = mixed_events(FLEET_EVENTS, seed=32)
    path = write_lines(tmp_path / "events.jsonl", lines)
    prefix = unique_name + "."
    workers = [Worker(kafka_bootstrap, unique_name, prefix, tmp_path / f"w{i}", free_port())
               for i in range(3)]
    replacement = Worker(kafka_bootstrap, unique_name, prefix, tmp_path / "w3", free_port())
    try:
        start_together(workers)
        with SteadyFeed(kafka_bootstrap, prefix, lines, FLEET_RATE,
                        held=len(lines) // 5) as feed:
            wait_for(lambda: feed.sent >= len(lines) // 3, "a third of the feed", workers[1])
            workers[1].kill()
            wait_for(lambda: feed.sent >= len(lines) // 2, "half of the feed", workers[0])
            replacement.start()  # a new node: no local state, takes over by rebalance
            assert not feed.done, "the fleet changed only after the feed had ended"
            feed.release()
        wait_fleet_equals_replay([workers[0], workers[2], replacement], path)
        stop_and_check_stores(kafka_bootstrap, unique_name, [*workers, replacement])
    finally:
        for worker in [*workers, replacement]:
            worker.stop()


def test_a_rolling_restart_of_three_workers_mid_stream_sums_to_the_replay(
        kafka_bootstrap: str, unique_name: str, tmp_path: Path) -> None:
    lines = mixed_events(FLEET_EVENTS, seed=33)
    path = write_lines(tmp_path / "events.jsonl", lines)
    prefix = unique_name + "."
    workers = [Worker(kafka_bootstrap, unique_name, prefix, tmp_path / f"w{i}", free_port())
               for i in range(3)]
    for worker in workers:  # Faust's recovery steps in the logs a failure shows
        worker.env["CCPULSE_LOG_LEVEL"] = "info"
    try:
        start_together(workers)
        with SteadyFeed(kafka_bootstrap, prefix, lines, FLEET_RATE,
                        held=len(lines) // 5) as feed:
            wait_for(lambda: feed.sent >= len(lines) // 5, "a fifth of the feed", workers[0])
            for n, worker in enumerate(workers):  # one at a time, as a StatefulSet rolls
                began = time.monotonic()
                worker.stop()  # SIGTERM: a clean shutdown
                worker.start()  # same data directory; ready before the next one stops
                say(f"worker {n} restarted in {time.monotonic() - began:.1f} s, "
                    f"{feed.sent:,} events sent")
            assert not feed.done, "the rolling restart ended only after the feed had ended"
            feed.release()
        wait_fleet_equals_replay(workers, path)
        stop_and_check_stores(kafka_bootstrap, unique_name, workers)
    finally:
        for worker in workers:
            worker.stop()
