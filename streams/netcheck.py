"""Is a TCP port free to listen on? Asked before starting a server, so that a port in use is one
``Error:`` line naming the option to change, not a traceback from deep inside a server."""

from __future__ import annotations

import errno
import socket

from streams.errors import PortInUseError


def ensure_port_free(host: str, port: int, what: str, option: str) -> None:
    """Raise :class:`PortInUseError` naming ``option`` if nothing can listen on host:port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As servers bind: SO_REUSEADDR, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} on {host} ({what}) is already in use by another program; "
                    f"choose a free one with {option}", port=port, option=option) from None
            raise PortInUseError(
                f"cannot listen on {host}:{port} ({what}): {exc.strerror}; check the host "
                f"and choose another port with {option}", port=port, option=option) from None
