"""Free TCP ports for the tests' servers (workers, brokers, Prometheus, Alertmanager, the
demo), one helper for every suite (``tests/conftest.py`` puts this directory on ``sys.path``; the
benches import it with the harness)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: Where :func:`free_port` looks when the kernel's ephemeral range leaves room below it.
_LOWEST_PORT = 10_000


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux), or a default."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


#: The ports :func:`free_port` handed out in this process.
_GIVEN: set[int] = set()


def free_port() -> int:
    """A TCP port nothing listens on right now, chosen outside the kernel's ephemeral range,
    and not one this process handed out before.

    A port the OS picks for ``bind(0)`` comes from that range, which every outgoing
    connection also draws from (the Kafka clients of a fleet open many): between the pick and
    the server's bind, a connection took one in a CI run ("port … already in use"). A port
    below the range is taken only by another listener, which the bind here rules out; the
    pick is random, so concurrent test processes rarely choose the same one. Ports picked one
    after the other for one command (a demo's web, broker and controller ports) are never the
    same: nothing listens on any of them yet (a CI run got the broker's as the controller's
    too, from ``bind(0)``)."""
    low, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(100 if low - _LOWEST_PORT >= 1_000 else 0):
        port = rng.randrange(_LOWEST_PORT, low)
        if port in _GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    while True:  # no room below: the OS's
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
