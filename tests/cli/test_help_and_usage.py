"""Every command's ``--help`` says what it does; usage errors are one line with what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["worker", "replay", "produce", "simulate", "connect", "connect asterisk",
            "connect amazon-connect", "connect http", "connect csv", "kafka", "staffing", "demo"]


def ccpulse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS)
def test_help_describes_the_command(command):
    done = ccpulse(*command.split(), "--help")
    assert done.returncode == 0
    usage, _, rest = done.stdout.partition("\n\n")
    description = rest.partition("\n\n")[0]
    assert usage.startswith(f"usage: ccpulse {command}")
    assert len(description.split()) >= 8, done.stdout  # a sentence, not the options list
    assert not description.lstrip().startswith(("positional arguments", "options"))


@pytest.mark.parametrize(("args", "message"), [
    (["replay", "-", "--as-of", "yesterday"],
     "Error: argument --as-of: 'yesterday' is not an RFC 3339 timestamp with offset (expected "
     "e.g. 2026-11-22T09:15:02.120Z). Try 'ccpulse replay --help'.\n"),
    (["demo", "--web-port", "70000"],
     "Error: argument --web-port: a port is a whole number from 1 to 65535, got '70000'. Try "
     "'ccpulse demo --help'.\n"),
    (["nonsense"],
     "Error: argument COMMAND: invalid choice: 'nonsense' (choose from 'worker', 'replay', "
     "'backfill', 'produce', 'simulate', 'connect', 'kafka', 'staffing', 'report', 'demo'). "
     "Try 'ccpulse --help'.\n"),
], ids=["bad-as-of", "port-out-of-range", "unknown-command"])
def test_usage_errors_are_one_line_with_what_to_do(args, message):
    done = ccpulse(*args)
    if message is None:  # a runtime error rather than a usage one: still one line, exit 1
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("Error: "), done.stderr
        return
    assert done.returncode == 2
    assert done.stderr == message
