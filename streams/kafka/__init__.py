"""The local Kafka broker and the little admin ccpulse needs against any broker.

Public surface::

    LocalBroker(state_dir, cache_dir, port, controller_port, host)
        .fetch() -> Path        .start(timeout_s) -> BrokerStatus
        .stop(timeout_s) -> int | None        .status() -> BrokerStatus
    ensure_topics(bootstrap, names, partitions, timeout_s) -> dict[str, int]
    wait_until_ready(bootstrap, timeout_s)
    bootstrap_servers("kafka://host:port") -> "host:port"
    KafkaSecurity, security_from(deployment)   TLS/SASL settings -> aiokafka and Faust arguments

Modules starting with ``_`` are implementation details.
"""

from streams.kafka.admin import (
    bootstrap_servers,
    ensure_topics,
    ensure_topics_async,
    wait_until_ready,
    wait_until_ready_async,
)
from streams.kafka.local_broker import BrokerStatus, LocalBroker
from streams.kafka.security import KafkaSecurity, security_from

__all__ = [
    "BrokerStatus",
    "KafkaSecurity",
    "LocalBroker",
    "bootstrap_servers",
    "ensure_topics",
    "ensure_topics_async",
    "security_from",
    "wait_until_ready",
    "wait_until_ready_async",
]
