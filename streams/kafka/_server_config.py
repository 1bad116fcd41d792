"""The ``server.properties`` of a single-node KRaft broker for development and tests.

One process is both broker and controller (a static one-voter quorum, so formatting needs no
``--standalone``). Every internal topic has replication factor 1 because there is one node, and
the settings that make a fresh consumer group wait are turned off so that tests are fast.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import NamedTuple

DEFAULT_PARTITIONS = 4
"""Partitions of a topic created without a count (auto-created or by a client default)."""

MESSAGE_MAX_BYTES = 8 * 1024 * 1024
"""The broker's largest message, for the topics it creates itself (auto-created by a first
``ccpulse produce``): the ``max.message.bytes`` ccpulse gives the topics it creates
(``streams.kafka.admin.MAX_MESSAGE_BYTES``), so an oversized event reaches the worker, and its
dead-letter topic, whoever created the topic."""


def new_cluster_id() -> str:
    """A cluster id as ``kafka-storage.sh random-uuid`` makes it, without starting a JVM.

    Kafka's ``Uuid.randomUuid()`` is 16 random bytes in URL-safe base64 without padding, and
    rejects ids starting with ``-`` (they read as command-line options).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not text.startswith("-"):
            return text


class SecureListener(NamedTuple):
    """The client listener of ``kafka start --secure``: SASL_SSL with SCRAM-SHA-512 and PLAIN
    for one user, the broker's key and certificate chain in one PEM file, the CA in another."""

    keystore: Path
    truststore: Path
    username: str
    password: str


def render_server_properties(
    *, host: str, port: int, controller_port: int, data_dir: Path, node_id: int = 1,
    secure: SecureListener | None = None,
) -> str:
    """The broker's configuration; the inputs are where it listens and stores data, and the
    secure client listener if there is one (the controller listener stays PLAINTEXT: it is
    this process talking to itself)."""
    client = "SASL_SSL" if secure else "PLAINTEXT"
    settings: list[tuple[str, object]] = [
        # One process, both roles, a static quorum of itself.
        ("process.roles", "broker,controller"),
        ("node.id", node_id),
        ("controller.quorum.voters", f"{node_id}@{host}:{controller_port}"),
        ("listeners", f"{client}://{host}:{port},CONTROLLER://{host}:{controller_port}"),
        ("advertised.listeners", f"{client}://{host}:{port}"),
        ("controller.listener.names", "CONTROLLER"),
        ("inter.broker.listener.name", client),
        ("listener.security.protocol.map", f"CONTROLLER:PLAINTEXT,{client}:{client}"),
        *(_secure_settings(secure) if secure else []),
        # Storage: data and the metadata log in one directory of the state dir.
        ("log.dirs", data_dir),
        ("metadata.log.dir", data_dir),
        # One node: every replication factor and min ISR is 1.
        ("default.replication.factor", 1),
        ("min.insync.replicas", 1),
        ("offsets.topic.replication.factor", 1),
        ("transaction.state.log.replication.factor", 1),
        ("transaction.state.log.min.isr", 1),
        ("share.coordinator.state.topic.replication.factor", 1),
        ("share.coordinator.state.topic.min.isr", 1),
        # Fast tests: no wait for more members before the first rebalance, and one partition
        # of __consumer_offsets instead of 50 to create at the first group.
        ("group.initial.rebalance.delay.ms", 0),
        ("offsets.topic.num.partitions", 1),
        # ccpulse creates its topics explicitly; auto-creation stays on as a convenience for
        # ad-hoc tools, with the project's default partition count.
        ("auto.create.topics.enable", "true"),
        ("num.partitions", DEFAULT_PARTITIONS),
        ("message.max.bytes", MESSAGE_MAX_BYTES),
        # Development retention: a few days, at most 1 GiB per partition, 64 MiB segments so
        # that old data can actually be deleted.
        ("log.retention.hours", 72),
        ("log.retention.bytes", 1024 * 1024 * 1024),
        ("log.segment.bytes", 64 * 1024 * 1024),
        ("log.retention.check.interval.ms", 60_000),
        # A small machine: few threads.
        ("num.network.threads", 2),
        ("num.io.threads", 4),
        ("num.recovery.threads.per.data.dir", 1),
        ("background.threads", 4),
    ]
    lines = ["# Written by ccpulse (streams/kafka/local_broker.py) at every start; edits are lost."]
    lines += [f"{key}={value}" for key, value in settings]
    return "\n".join(lines) + "\n"


def _secure_settings(secure: SecureListener) -> list[tuple[str, object]]:
    """SASL_SSL: TLS from PEM files, SCRAM-SHA-512 (credentials added at format time, see
    :func:`scram_format_option`) and PLAIN (users in the JAAS line) for clients; the broker
    itself, should it connect to its own listener, logs in with PLAIN as the same user."""
    user, password = secure.username, secure.password
    plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
             f'username="{user}" password="{password}" user_{user}="{password}";')
    return [
        ("sasl.enabled.mechanisms", "SCRAM-SHA-512,PLAIN"),
        ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
        ("listener.name.sasl_ssl.plain.sasl.jaas.config", plain),
        ("listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config",
         "org.apache.kafka.common.security.scram.ScramLoginModule required;"),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", secure.keystore),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", secure.truststore),
        ("ssl.client.auth", "none"),
    ]


def scram_format_option(secure: SecureListener) -> list[str]:
    """``kafka-storage format`` arguments that create the SCRAM-SHA-512 user: KRaft keeps
    SCRAM credentials in the metadata log, which is written first at format time."""
    return ["--add-scram",
            f"SCRAM-SHA-512=[name={secure.username},password={secure.password}]"]
