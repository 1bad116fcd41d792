"""Reading back what the worker wrote to Kafka: a topic's records, a group's commits.

Shared by the integration tests and the fault suite, so that "the dead letters" and "what the
group committed" are read one way everywhere.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from broker_security import security_for


async def read_topic(bootstrap: str, topic: str, expected: int,
                     timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """The records of ``topic`` from its start, as ``{"value": bytes, "headers": {name:
    str}}``: until ``expected`` have come (or ``timeout_s``), then one more poll of a second,
    so that a record too many shows."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False,
                                **security_for(bootstrap).aiokafka_kwargs())
    await consumer.start()
    out: list[dict[str, Any]] = []

    def take(batch: dict[Any, list[Any]]) -> None:
        for records in batch.values():
            out.extend({"value": r.value, "headers": {k: v.decode() for k, v in r.headers}}
                       for r in records)

    try:
        deadline = time.monotonic() + timeout_s
        while len(out) < expected and time.monotonic() < deadline:
            take(await consumer.getmany(timeout_ms=1000))
        take(await consumer.getmany(timeout_ms=1000))
    finally:
        await consumer.stop()
    return out


async def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> committed offset`` of the consumer group ``group`` (the next
    offset to read; -1 where nothing is committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                **security_for(bootstrap).aiokafka_kwargs())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def read_partitions(bootstrap: str, partitions: list[tuple[str, int]],
                          timeout_s: float = 60.0,
                          ) -> dict[tuple[str, int], list[tuple[int, bytes | None, bytes | None]]]:
    """Every record of each ``(topic, partition)``, up to its end offset when asked, as
    ``(offset, key, value)`` in offset order, with one consumer; raises ``TimeoutError`` if
    they have not all come in ``timeout_s``."""
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest",
                                **security_for(bootstrap).aiokafka_kwargs())
    await consumer.start()
    tps = [TopicPartition(topic, partition) for topic, partition in partitions]
    out: dict[tuple[str, int], list[tuple[int, bytes | None, bytes | None]]] = {
        (tp.topic, tp.partition): [] for tp in tps}
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        # explicit seeks: aiokafka's own reset at the assignment could land after a
        # seek_to_beginning and leave a position at the end
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        deadline = time.monotonic() + timeout_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{partitions} not read up to their end offsets {ends} in "
                                   f"{timeout_s:.0f} s")
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                out[(tp.topic, tp.partition)].extend((r.offset, r.key, r.value)
                                                     for r in records)
    finally:
        await consumer.stop()
    return out
