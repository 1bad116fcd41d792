"""The harness's free ports come from outside the kernel's ephemeral range, where outgoing
connections (Kafka clients) cannot take them between the pick and the server's bind."""

from __future__ import annotations

import socket

from ports import _LOWEST_PORT, _ephemeral_range, free_port


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound():
    low, _ = _ephemeral_range()
    for _ in range(20):
        port = free_port()
        if low - _LOWEST_PORT >= 1_000:
            assert _LOWEST_PORT <= port < low
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))  # nothing listens there
