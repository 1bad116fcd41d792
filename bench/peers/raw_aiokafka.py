"""The raw ceiling: a plain aiokafka consumer that decodes each value with orjson, nothing more.

``getmany`` (batches per partition) rather than ``async for msg in consumer`` (one task switch
per message): the fastest way aiokafka offers to drain a topic from Python.
"""

from __future__ import annotations

import asyncio

import orjson
from _common import PROGRESS_EVERY, now, parse_args, progress, result
from aiokafka import AIOKafkaConsumer


async def drain(bootstrap: str, topic: str, group: str, events: int) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        loads = orjson.loads
        count = 0
        first = 0.0
        next_progress = PROGRESS_EVERY
        while count < events:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                if not first:
                    first = now()
                for record in records:
                    loads(record.value)
                count += len(records)
            if count >= next_progress:
                progress(count)
                next_progress += PROGRESS_EVERY
        result(first, now(), count)
    finally:
        await consumer.stop()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    asyncio.run(drain(args.bootstrap, args.topic, args.group, args.events))


if __name__ == "__main__":
    main()
