"""Talking to a running broker: is it ready, and do the topics ccpulse needs exist.

Topics are created explicitly with a known partition count because Faust tables must be
co-partitioned with their source topics; a topic that exists with another count is an error,
not something to paper over. Each function has an ``async`` form for callers already inside an
event loop (a Faust worker) and a blocking wrapper for the CLI, the broker and tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, UnknownMemberIdError, for_code
from aiokafka.protocol.group import LeaveGroupRequest

from streams.core.events import DEADLETTER_TOPIC
from streams.errors import BrokerError, describe
from streams.kafka.security import KafkaSecurity, raise_if_refused

#: ``max.message.bytes`` of the topics ccpulse creates: far above any real event (a few hundred
#: bytes) and above the broker's 1 MB default, so that an oversized message still reaches the
#: worker and goes to the dead-letter topic with its reason, where operators look, instead of
#: being refused by the broker at a producer nobody watches.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
#: The dead-letter topic's limit: a dead letter is the original message (key and value, at most
#: :data:`MAX_MESSAGE_BYTES`) plus headers (the reason, the source coordinates).
DEADLETTER_MAX_MESSAGE_BYTES = MAX_MESSAGE_BYTES + 1024 * 1024

_RETRY_S = 0.2
_MAX_REQUEST_S = 10.0


def bootstrap_servers(address: str) -> str:
    """``kafka://h1:9092;h2:9092`` (Faust's form) or ``h1:9092,h2:9092`` → ``h1:9092,h2:9092``."""
    servers = []
    for part in address.replace(";", ",").split(","):
        server = part.strip().removeprefix("kafka://").rstrip("/")
        if not server:
            continue
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BrokerError(
                f"not a Kafka bootstrap address: {address!r}. Use host:port or "
                "kafka://host:port (several separated by commas), e.g. kafka://localhost:9092."
            )
        servers.append(server)
    if not servers:
        raise BrokerError(
            "the Kafka bootstrap address is empty. Set it to host:port or kafka://host:port, "
            "e.g. CCPULSE_BROKER=kafka://localhost:9092."
        )
    return ",".join(servers)


async def wait_until_ready_async(bootstrap: str, timeout_s: float = 30.0, *,
                                 security: KafkaSecurity | None = None) -> None:
    """Return once the cluster answers a metadata request naming a broker and a controller."""
    async with _admin(bootstrap, time.monotonic() + timeout_s, timeout_s, security):
        return


def wait_until_ready(bootstrap: str, timeout_s: float = 30.0, *,
                     security: KafkaSecurity | None = None) -> None:
    """Blocking form of :func:`wait_until_ready_async`."""
    asyncio.run(wait_until_ready_async(bootstrap, timeout_s, security=security))


async def ensure_topics_async(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    *,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
    security: KafkaSecurity | None = None,
) -> dict[str, int]:
    """Create the topics that are missing; return each topic's partition count.

    A topic is created with ``max.message.bytes`` :data:`MAX_MESSAGE_BYTES`
    (:data:`DEADLETTER_MAX_MESSAGE_BYTES` for the dead-letter topic); an existing topic keeps
    its configuration. Idempotent: existing topics are fine when their partition count is
    ``partitions``. Returns only when every partition of every topic has a leader, so producing
    can start at once.
    """
    if partitions < 1:
        raise BrokerError(f"a topic needs at least 1 partition, got {partitions}.")
    wanted = list(dict.fromkeys(names))
    deadline = time.monotonic() + timeout_s
    async with _admin(bootstrap, deadline, timeout_s, security) as admin:
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor,
                      topic_configs={"max.message.bytes": str(max_message_bytes(name))})
             for name in wanted],
            timeout_ms=int(_request_s(deadline) * 1000),
        )
        for result in response.to_object()["topic_errors"]:
            error = for_code(result["error_code"]) if result["error_code"] else None
            if error is not None and error is not TopicAlreadyExistsError:
                raise BrokerError(
                    f"Kafka at {bootstrap} refused to create topic {result['topic']!r}: "
                    f"{error.__name__} {result.get('error_message') or ''}".rstrip()
                )
        counts = await _wait_for_leaders(admin, wanted, deadline, timeout_s)
    wrong = {name: count for name, count in counts.items() if count != partitions}
    if wrong:
        listing = ", ".join(f"{name!r} has {count}" for name, count in sorted(wrong.items()))
        raise BrokerError(
            f"topics exist with another partition count than the {partitions} configured: "
            f"{listing}. Configure that count, or delete the topics (for the local broker: "
            "`ccpulse kafka stop` and remove its state directory) and start again."
        )
    return counts


async def remove_group_member_async(
    bootstrap: str,
    group: str,
    member_id: str,
    *,
    timeout_s: float = 5.0,
    security: KafkaSecurity | None = None,
) -> bool:
    """Remove ``member_id`` from consumer group ``group``, as its own LeaveGroup would.

    For a member known to be dead (``streams.worker.membership``): the group rebalances at
    once instead of waiting out the member's session. Returns True when the coordinator
    removed it, False when it was not a member (it left, or its session already expired).
    Raises :class:`~streams.errors.BrokerError` when the coordinator cannot be reached or
    refuses within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    try:
        async with _admin(bootstrap, deadline, timeout_s, security) as admin:
            node = await admin.find_coordinator(group)
            response = await admin._send_request_to_node(node, LeaveGroupRequest(group, member_id))
    except (TimeoutError, KafkaError, OSError) as exc:
        raise BrokerError(f"could not reach the coordinator of group {group!r}: "
                          f"{describe(exc)}") from None
    if not response.error_code:
        return True
    error = for_code(response.error_code)
    if error is UnknownMemberIdError:
        return False
    raise BrokerError(f"the coordinator of group {group!r} refused to remove member "
                      f"{member_id}: {error.__name__}")


def remove_group_member(bootstrap: str, group: str, member_id: str, *, timeout_s: float = 5.0,
                        security: KafkaSecurity | None = None) -> bool:
    """Blocking form of :func:`remove_group_member_async`."""
    return asyncio.run(remove_group_member_async(bootstrap, group, member_id,
                                                 timeout_s=timeout_s, security=security))


def max_message_bytes(topic: str) -> int:
    """The ``max.message.bytes`` ccpulse gives ``topic`` (with or without a prefix)."""
    if topic.endswith(DEADLETTER_TOPIC):
        return DEADLETTER_MAX_MESSAGE_BYTES
    return MAX_MESSAGE_BYTES


def ensure_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    timeout_s: float = 30.0,
    *,
    replication_factor: int = 1,
    security: KafkaSecurity | None = None,
) -> dict[str, int]:
    """Blocking form of :func:`ensure_topics_async`."""
    return asyncio.run(
        ensure_topics_async(
            bootstrap,
            names,
            partitions,
            replication_factor=replication_factor,
            timeout_s=timeout_s,
            security=security,
        )
    )


@asynccontextmanager
async def _admin(bootstrap: str, deadline: float, timeout_s: float,
                 security: KafkaSecurity | None = None) -> AsyncIterator[Any]:
    """An admin client connected to a cluster that has a broker and a controller.

    Retries until ``deadline`` because "ready" is exactly what callers wait for: a broker that
    is starting refuses connections, then answers metadata without a controller for a moment.
    A refused login, an untrusted certificate or a listener of another protocol is not retried
    (:func:`raise_if_refused`).
    """
    servers = bootstrap_servers(bootstrap)
    security = security or KafkaSecurity()
    auth = security.aiokafka_kwargs()
    last_error = "no answer"
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=servers, request_timeout_ms=int(_request_s(deadline) * 1000),
            **auth)
        try:
            with _quiet_aiokafka():
                await admin.start()
            cluster = await admin.describe_cluster()
            if cluster.get("brokers") and cluster.get("controller_id", -1) >= 0:
                break
            last_error = f"the cluster has no controller yet ({cluster})"
        except (TimeoutError, KafkaError, OSError) as exc:
            last_error = describe(exc)
            await _close_then(admin, raise_if_refused(servers, security,
                                                      min(_MAX_REQUEST_S, timeout_s)))
        await admin.close()
        if time.monotonic() + _RETRY_S >= deadline:
            raise BrokerError(
                f"Kafka at {servers} did not answer within {timeout_s:g} s ({last_error}). "
                "Is it running? Start the local broker with `ccpulse kafka start`."
            )
        await asyncio.sleep(_RETRY_S)
    try:
        yield admin
    finally:
        await admin.close()


async def _wait_for_leaders(
    admin: Any, names: list[str], deadline: float, timeout_s: float
) -> dict[str, int]:
    """Partition counts once each partition of each topic has a leader (metadata propagates
    from the controller a moment after CreateTopics returns)."""
    while True:
        described = await admin.describe_topics(names)
        counts = {
            topic["topic"]: len(topic["partitions"])
            for topic in described
            if topic["error_code"] == 0
            and topic["partitions"]
            and all(p["leader"] >= 0 for p in topic["partitions"])
        }
        if len(counts) == len(names):
            return counts
        if time.monotonic() + _RETRY_S >= deadline:
            missing = sorted(set(names) - set(counts))
            raise BrokerError(
                f"topics {missing} still have no partition leaders after {timeout_s:g} s; see "
                "the broker log (`ccpulse kafka status` shows where it is)."
            )
        await asyncio.sleep(_RETRY_S)


@contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """aiokafka logs a refused login (or a closed connection) before it raises; the caller
    reports it in one line."""
    log = logging.getLogger("aiokafka")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


async def _close_then(admin: Any, check: Any) -> None:
    """Await ``check``; if it raises, close ``admin`` first so that no client is leaked."""
    try:
        await check
    except BaseException:
        await admin.close()
        raise


def _request_s(deadline: float) -> float:
    """A request timeout that never outlives the caller's deadline (but is at least 1 s)."""
    return max(1.0, min(_MAX_REQUEST_S, deadline - time.monotonic()))
