"""A killed worker's group member, through the real broker (``streams.worker.membership``).

A worker records its member id in its data directory. Killed, it stays in the group until its
session times out; the next worker on that data directory removes it at once, so the group
assigns the partitions without waiting. A second worker on a data directory in use is refused.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys

from aiokafka.admin import AIOKafkaAdminClient
from broker_security import security_for
from worker_harness import Worker, free_port, wait_for

from streams.kafka.admin import remove_group_member
from streams.kafka.security import security_from
from streams.settings import load_config
from streams.worker.membership import previous_member


async def group_members(bootstrap: str, group: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                **security_for(bootstrap).aiokafka_kwargs())
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.to_object()["groups"]
    return [member["member_id"] for member in described["members"]]


def test_a_killed_workers_member_is_removed_from_the_group_by_the_next_one(
        kafka_bootstrap, unique_name, tmp_path, monkeypatch):
    monkeypatch.setenv("CCPULSE_BROKER", kafka_bootstrap)  # for the client settings below
    security = security_from(load_config(None).deployment)
    data = tmp_path / "node"
    worker = Worker(kafka_bootstrap, unique_name, unique_name + ".", data, free_port())
    try:
        worker.start()
        wait_for(lambda: previous_member(data, unique_name), "the member id recorded", worker)
        member = previous_member(data, unique_name)
        assert asyncio.run(group_members(kafka_bootstrap, unique_name)) == [member]
        wait_for(lambda: "engines built in" in worker.log_tail(20_000), "the engines built",
                 worker)
        first_start = worker.log_tail(20_000)
        # its own status lines at INFO, timestamped; its topics being new is no [ERROR]
        assert re.search(r"^\[[\d :,-]+\] \[\d+\] \[INFO\] ccpulse worker: metrics on "
                         rf"http://127\.0\.0\.1:{worker.port}/metrics", first_start,
                         re.MULTILINE), first_start
        assert re.search(r"\[INFO\] ccpulse worker: \d+ engines built in", first_start)
        # the hot path make test built (deploy/setup.sh), as the worker runs it
        assert re.search(r"\[INFO\] ccpulse worker: hot path: compiled with mypyc \(\d+ modules, "
                         r"mypy [\d.]+\)$", first_start, re.MULTILINE), first_start
        assert "[ERROR]" not in first_start and "[WARNING]" not in first_start, first_start

        # the same data directory while the worker runs: refused before it touches anything
        second = subprocess.run([sys.executable, "-m", "streams.cli", "worker"],
                                env={**worker.env, "CCPULSE_WEB_PORT": str(free_port())},
                                capture_output=True, timeout=60)
        assert second.returncode != 0
        assert (f"another ccpulse worker (pid {worker.proc.pid}) is using the data directory "
                f"{data}") in second.stderr.decode(), second.stderr.decode()
        assert asyncio.run(group_members(kafka_bootstrap, unique_name)) == [member]

        worker.kill()  # no LeaveGroup: the dead member stays for its session (10 s)
        assert asyncio.run(group_members(kafka_bootstrap, unique_name)) == [member]
        assert remove_group_member(kafka_bootstrap, unique_name, member, security=security)
        assert asyncio.run(group_members(kafka_bootstrap, unique_name)) == []
        # a member that is gone (as after a clean stop, which leaves the group) is no error
        assert not remove_group_member(kafka_bootstrap, unique_name, member, security=security)

        # the whole path: killed again, the next worker removes the member and says so
        worker.start()
        wait_for(lambda: previous_member(data, unique_name) not in (None, member),
                 "the new member id recorded", worker)
        killed = previous_member(data, unique_name)
        worker.kill()
        worker.start()
        wait_for(lambda: f"removed it ({killed})" in worker.log_tail(20_000),
                 "the killed worker's member removed", worker)
        wait_for(lambda: killed not in asyncio.run(group_members(kafka_bootstrap, unique_name)),
                 "the group without the killed member", worker)
    finally:
        worker.stop()
