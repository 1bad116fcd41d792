"""Reading back what the worker wrote to Kafka: a topic's records, a group's commits.

Shared by the integration tests and the fault suite, so that "the dead letters" and "what the
group committed" are read one way everywhere.
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer
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
