"""The local broker really runs: lifecycle, messages through it, topics, and setup errors.

The lifecycle test starts its own broker (it stops and restarts it); the topic tests share the
session broker of ``kafka_bootstrap``. The setup-error tests run the real tool look-up against
a PATH that lacks the tool — what a user on a fresh machine sees.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.errors import BrokerError, SetupError
from streams.kafka import LocalBroker, bootstrap_servers, ensure_topics, wait_until_ready

START_TIMEOUT_S = 90.0
MESSAGE_TIMEOUT_S = 30.0


async def _produce(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _consume_first(bootstrap: str, topic: str, group: str) -> tuple[bytes, bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), MESSAGE_TIMEOUT_S)
    finally:
        await consumer.stop()
    assert record.key is not None and record.value is not None
    return record.key, record.value


async def _partition_count(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return len(described["partitions"])


class TestLocalBrokerLifecycle:
    def test_starts_carries_messages_is_idempotent_stops_and_keeps_data_across_restart(
        self, new_local_broker: Callable[..., LocalBroker], unique_name: str
    ) -> None:
        broker = new_local_broker()
        topic = f"{unique_name}.lifecycle"
        started = broker.start(timeout_s=START_TIMEOUT_S)
        assert started.running and started.pid is not None
        assert started.bootstrap == broker.bootstrap
        assert started.log_path.is_file()

        ensure_topics(broker.bootstrap, [topic], partitions=1)
        asyncio.run(_produce(broker.bootstrap, topic, b"call-1", b'{"type":"call.queued"}'))
        received = asyncio.run(_consume_first(broker.bootstrap, topic, f"{unique_name}-g1"))
        assert received == (b"call-1", b'{"type":"call.queued"}')

        assert broker.status() == started
        again = broker.start(timeout_s=START_TIMEOUT_S)
        assert again.pid == started.pid

        assert broker.stop() == started.pid
        stopped = broker.status()
        assert not stopped.running and stopped.pid is None
        assert broker.stop() is None

        restarted = broker.start(timeout_s=START_TIMEOUT_S)
        assert restarted.running and restarted.pid != started.pid
        received = asyncio.run(_consume_first(broker.bootstrap, topic, f"{unique_name}-g2"))
        assert received == (b"call-1", b'{"type":"call.queued"}')

    def test_start_refuses_other_ports_while_running(
        self, new_local_broker: Callable[..., LocalBroker]
    ) -> None:
        broker = new_local_broker()
        running = broker.start(timeout_s=START_TIMEOUT_S)
        elsewhere = LocalBroker(
            state_dir=broker.state_dir, port=broker.port + 1, controller_port=broker.port + 2
        )
        with pytest.raises(BrokerError, match=r"already running .* with other settings"):
            elsewhere.start(timeout_s=5)
        assert broker.status() == running
        # `ccpulse kafka status --state-dir D` without --port: the running broker's own port
        assert elsewhere.status().bootstrap == broker.bootstrap == running.bootstrap

    def test_start_refuses_a_port_taken_by_another_program(
        self, new_local_broker: Callable[..., LocalBroker]
    ) -> None:
        broker = new_local_broker()
        taken = rf"port {broker.port} .* in use.*--port"
        with (
            socket.create_server((broker.host, broker.port)),
            pytest.raises(BrokerError, match=taken),
        ):
            broker.start(timeout_s=5)
        assert not broker.status().running

    def test_a_jvm_that_dies_at_start_is_reported_with_its_output(
        self, new_local_broker: Callable[..., LocalBroker]
    ) -> None:
        broker = new_local_broker(jvm_options=["-XX:+NoSuchJvmOption"])
        with pytest.raises(BrokerError, match=r"(?s)exited before it was ready.*NoSuchJvmOption"):
            broker.start(timeout_s=START_TIMEOUT_S)
        assert not broker.status().running

    def test_a_child_not_yet_running_java_is_not_taken_for_one_that_exited(
        self, new_local_broker: Callable[..., LocalBroker], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Between fork and exec (the die-with-parent hook runs there) a child's command line
        is still Python's; a CI run on a loaded machine read that as "exited before it was
        ready". Here every command-line check says "not the broker" while the start waits."""
        from streams.kafka import _process

        broker = new_local_broker()
        with monkeypatch.context() as m:
            m.setattr(_process, "is_broker_process", lambda pid, config_path: False)
            broker.start(timeout_s=START_TIMEOUT_S)
        assert broker.status().running

    def test_status_ignores_a_pid_file_naming_another_process(self, tmp_path: Path) -> None:
        broker = LocalBroker(state_dir=tmp_path / "kafka")
        broker.state_dir.mkdir(parents=True)
        bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            broker.pid_path.write_text(f"{bystander.pid}\n")
            assert not broker.status().running
            assert broker.stop() is None
            assert bystander.poll() is None, "stop() signalled a process that is not the broker"
            assert not broker.pid_path.exists()
        finally:
            bystander.kill()
            bystander.wait()


class TestEnsureTopics:
    def test_creates_missing_topics_with_the_partition_count(
        self, kafka_bootstrap: str, unique_name: str
    ) -> None:
        names = [f"{unique_name}.cc.calls", f"{unique_name}.cc.chats"]
        counts = ensure_topics(kafka_bootstrap, names, partitions=3)
        assert counts == {name: 3 for name in names}
        for name in names:
            assert asyncio.run(_partition_count(kafka_bootstrap, name)) == 3

    def test_is_idempotent_and_creates_only_what_is_missing(
        self, kafka_bootstrap: str, unique_name: str
    ) -> None:
        first, second = f"{unique_name}.cc.calls", f"{unique_name}.cc.tickets"
        ensure_topics(kafka_bootstrap, [first], partitions=2)
        counts = ensure_topics(kafka_bootstrap, [first, second], partitions=2)
        assert counts == {first: 2, second: 2}
        assert ensure_topics(kafka_bootstrap, [first, second], partitions=2) == counts

    def test_refuses_an_existing_topic_with_another_partition_count(
        self, kafka_bootstrap: str, unique_name: str
    ) -> None:
        name = f"{unique_name}.cc.agents"
        ensure_topics(kafka_bootstrap, [name], partitions=2)
        with pytest.raises(BrokerError, match=r"than the 4 configured.*has 2"):
            ensure_topics(kafka_bootstrap, [name], partitions=4)

    def test_accepts_faust_style_kafka_url(self, kafka_bootstrap: str, unique_name: str) -> None:
        name = f"{unique_name}.cc.feedback"
        counts = ensure_topics(f"kafka://{kafka_bootstrap}", [name], partitions=1)
        assert counts == {name: 1}


class TestWaitUntilReady:
    def test_returns_for_a_running_broker(self, kafka_bootstrap: str) -> None:
        wait_until_ready(kafka_bootstrap, timeout_s=10)

    def test_names_the_address_and_the_fix_when_nothing_listens(
        self, new_local_broker: Callable[..., LocalBroker]
    ) -> None:
        address = new_local_broker().bootstrap  # free ports, never started
        with pytest.raises(BrokerError, match=r"did not answer.*ccpulse kafka start"):
            wait_until_ready(address, timeout_s=1)


class TestBootstrapServers:
    @pytest.mark.parametrize(
        ("address", "expected"),
        [
            ("localhost:9092", "localhost:9092"),
            ("kafka://localhost:9092", "localhost:9092"),
            ("kafka://a:1;kafka://b:2", "a:1,b:2"),
            ("a:1, b:2", "a:1,b:2"),
        ],
        ids=["plain", "kafka-url", "faust-list", "comma-list"],
    )
    def test_normalises_to_aiokafka_form(self, address: str, expected: str) -> None:
        assert bootstrap_servers(address) == expected

    @pytest.mark.parametrize("address", ["", "localhost", "host:port", "h:70000"])
    def test_rejects_an_address_without_a_port_and_says_the_form(self, address: str) -> None:
        with pytest.raises(BrokerError, match="host:port"):
            bootstrap_servers(address)


def _path_with(tmp_path: Path, *tools: str) -> dict[str, str]:
    """An environment whose PATH holds only links to the named real tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        real = next(
            Path(d, tool) for d in os.environ["PATH"].split(os.pathsep) if Path(d, tool).is_file()
        )
        (bin_dir / tool).symlink_to(real.resolve())
    return {"PATH": str(bin_dir)}


class TestSetupErrors:
    def test_missing_java_says_what_to_install(self, tmp_path: Path) -> None:
        broker = LocalBroker(
            state_dir=tmp_path / "kafka", cache_dir=tmp_path / "cache", env=_path_with(tmp_path)
        )
        with pytest.raises(SetupError, match=r"no `java` was found.*apt-get install"):
            broker.fetch()
        with pytest.raises(SetupError, match="default-jre-headless"):
            broker.start(timeout_s=5)
        assert not broker.status().running

    def test_java_older_than_17_is_refused_with_its_version(self, tmp_path: Path) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        old_java = bin_dir / "java"
        old_java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
        old_java.chmod(0o755)
        broker = LocalBroker(state_dir=tmp_path / "kafka", env={"PATH": str(bin_dir)})
        with pytest.raises(SetupError, match=r"is Java 11.*17"):
            broker.fetch()

    def test_missing_maven_with_an_empty_cache_says_what_to_install(self, tmp_path: Path) -> None:
        broker = LocalBroker(
            state_dir=tmp_path / "kafka",
            cache_dir=tmp_path / "empty-cache",
            env=_path_with(tmp_path, "java"),
        )
        with pytest.raises(SetupError, match=r"`mvn`.*apt-get install maven"):
            broker.fetch()

    def test_equal_broker_and_controller_ports_are_refused(self, tmp_path: Path) -> None:
        with pytest.raises(BrokerError, match="both 9092"):
            LocalBroker(state_dir=tmp_path, port=9092, controller_port=9092)
