"""How many fetched records the worker turns into Python objects at a time: at most
``POLL_RECORDS`` (streams/worker/app.py), not everything aiokafka has fetched (Faust's
default), which during a catch-up made tens of MiB of small objects at once (docs/performance.md,
"Records taken from aiokafka a bounded batch at a time")."""

from __future__ import annotations

import asyncio

from streams.core.config import parse_config
from streams.worker.app import POLL_RECORDS, build_pipeline
from streams.worker.inline import CHUNK


def test_the_workers_consumer_takes_at_most_poll_records_from_aiokafka_at_a_time() -> None:
    async def created() -> int | None:
        app = build_pipeline(parse_config({})).app
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        try:
            return consumer._max_poll_records
        finally:
            await consumer.stop()

    assert asyncio.run(created()) == POLL_RECORDS


def test_a_poll_holds_whole_chunks_of_the_inline_path() -> None:
    # the inline path applies a batch CHUNK records at a time between returns to the loop
    assert POLL_RECORDS % CHUNK == 0 and POLL_RECORDS >= 4 * CHUNK
