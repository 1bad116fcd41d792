"""Simulated traffic for live tests: a recent past sent at once, then the present in real time.

    past, live = recent_and_live(scenario, seed=5, past_ms=45 * 60_000, live_ms=4 * 60_000)
    produce(bootstrap, prefix, write_jsonl(tmp_path / "past.jsonl", past))  # ccpulse produce
    with LiveFeed(bootstrap, prefix, live):                                  # real time
        ...

One seeded simulation covers both parts, so the live part continues the same contacts and
agents: no second simulation whose agents collide with the first. The live part is paced by
the simulator's own ``paced`` and sent by its ``Publisher`` (what ``ccpulse simulate`` does
for its fixed scenario), never ahead of the wall clock: the engine refuses events from the
future, and a data-age panel would go negative.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from broker_security import environment_for, security_for
from worker_harness import cli

from streams.publish import Publisher
from streams.simulate.generator import timed_events
from streams.simulate.model import Scenario
from streams.simulate.pacing import paced
from streams.simulate.sinks import send_to_kafka
from streams.simulate.world import TimedEvent

STOP_TIMEOUT_S = 30.0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def recent_and_live(scenario: Scenario, *, seed: int, past_ms: int,
                    live_ms: int) -> tuple[list[TimedEvent], list[TimedEvent]]:
    """``scenario`` from ``past_ms`` ago until ``live_ms`` from now, split at now."""
    start = now_ms()
    events = list(timed_events(scenario, seed=seed, start_ms=start - past_ms,
                               duration_ms=past_ms + live_ms))
    split = next((i for i, (occurred, _) in enumerate(events) if occurred > start), len(events))
    return events[:split], events[split:]


def write_jsonl(path: Path, events: Sequence[TimedEvent | dict[str, Any] | bytes]) -> Path:
    """One JSON line per event (timed events, plain dicts, or lines already encoded)."""
    lines = []
    for item in events:
        if isinstance(item, bytes):
            lines.append(item)
        else:
            lines.append(orjson.dumps(item[1] if isinstance(item, tuple) else item))
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def produce(bootstrap: str, prefix: str, path: Path, topic: str | None = None) -> str:
    """``ccpulse produce FILE`` (to ``topic`` as-is when given); its report on stdout."""
    args = ["produce", str(path), "--broker", bootstrap, "--topic-prefix", prefix]
    if topic is not None:
        args += ["--topic", topic]
    done = cli(*args, env=environment_for(bootstrap))
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


class LiveFeed:
    """Sends timed events to Kafka as their time comes, from a background thread.

    A context manager: leaving it stops the feed (events not yet due are not sent) and
    re-raises whatever failed in the thread.
    """

    def __init__(self, bootstrap: str, prefix: str, events: Sequence[TimedEvent]) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.events = list(events)
        self.sent = 0
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-feed", daemon=True)

    def __enter__(self) -> LiveFeed:
        self._thread.start()
        self._started.wait(STOP_TIMEOUT_S)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        async with Publisher(self.bootstrap, topic_prefix=self.prefix,
                             security=security_for(self.bootstrap)) as publisher:
            start = now_ms()
            await send_to_kafka(
                paced(self.events, speed=1.0, start_ms=start, wall_epoch_ms=start), publisher,
                lambda _: self._count())

    def _count(self) -> None:
        self.sent += 1

    def stop(self) -> None:
        if self._loop is not None and self._task is not None and not self._task.done():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(STOP_TIMEOUT_S)
        if self.error is not None:
            raise AssertionError(f"the live feed failed: {self.error!r}") from self.error
