"""What a Kafka listener speaks, asked directly: TLS, or Kafka in the clear.

A client whose ``security_protocol`` does not match the listener gets its connection closed
without a word it can classify, and aiokafka retries that like a broker that is down.
:func:`listener_protocol` tells the two apart with evidence only: a TLS handshake that
completes (the certificate is not checked: only the protocol is asked), or an ApiVersions
request answered in the clear. Anything else -- nobody listening, no answer -- is ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct

TLS = "TLS"
CLEAR = "CLEAR"

_API_VERSIONS_KEY = 18
_CORRELATION_ID = 0x0CC9_0015
_CLIENT_ID = b"ccpulse-probe"
#: ApiVersions v0 (request header v1, empty body), which every Kafka since 0.10 answers on
#: any listener before a SASL login.
API_VERSIONS_V0 = (
    struct.pack(">ihhih", 2 + 2 + 4 + 2 + len(_CLIENT_ID), _API_VERSIONS_KEY, 0,
                _CORRELATION_ID, len(_CLIENT_ID)) + _CLIENT_ID
)
#: Larger answers to ApiVersions are not Kafka's.
_MAX_ANSWER_BYTES = 1024 * 1024


async def listener_protocol(host: str, port: int, timeout_s: float) -> str | None:
    """:data:`TLS` if a TLS handshake with ``host:port`` completes, :data:`CLEAR` if it
    answers an ApiVersions request as plain Kafka, None otherwise."""
    if await _completes_tls_handshake(host, port, timeout_s):
        return TLS
    if await _answers_api_versions(host, port, timeout_s):
        return CLEAR
    return None


async def _completes_tls_handshake(host: str, port: int, timeout_s: float) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), timeout_s)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    await _close(writer)
    return True


async def _answers_api_versions(host: str, port: int, timeout_s: float) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(API_VERSIONS_V0)
        head = await asyncio.wait_for(reader.readexactly(8), timeout_s)
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        await _close(writer)
    size, correlation_id = struct.unpack(">ii", head)
    return correlation_id == _CORRELATION_ID and 4 <= size <= _MAX_ANSWER_BYTES


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
