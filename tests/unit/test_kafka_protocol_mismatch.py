"""A client whose ``security_protocol`` does not match the listener fails at once with one line
naming the likely cause and the setting to change (``streams.kafka.security``,
``streams.kafka.listener_probe``), instead of waiting 30 s for a broker that "does not answer".

The listeners are small asyncio servers on 127.0.0.1: one that speaks TLS (and closes), one
that answers Kafka's ApiVersions in the clear and hangs up on anything that is not a Kafka
request (as a Kafka PLAINTEXT listener does with a TLS ClientHello); the real broker's
listeners are in tests/integration/test_kafka_security.py.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka.errors import IllegalSaslStateError

from streams.errors import BrokerError
from streams.kafka._certs import write_ca_and_server_cert
from streams.kafka.listener_probe import CLEAR, TLS, listener_protocol
from streams.kafka.security import KafkaSecurity, explain, raise_if_refused

TIMEOUT_S = 5.0
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def listening(handler: Handler, context: ssl.SSLContext | None = None
                    ) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def clear_kafka(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with its correlation id and an empty body, like Kafka without TLS;
    a size no Kafka request has (a TLS ClientHello read as one) ends the connection."""
    try:
        while True:
            (size,) = struct.unpack(">i", await reader.readexactly(4))
            if not 8 <= size <= 1024 * 1024:
                break
            request = await reader.readexactly(size)
            correlation_id = request[4:8]
            writer.write(struct.pack(">i", 6) + correlation_id + b"\0\0")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the CA that signed it."""
    ca, server = tmp_path / "ca.pem", tmp_path / "server.pem"
    write_ca_and_server_cert(ca, server, ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(server)
    return context, ca


class TestListenerProtocol:
    def test_a_tls_listener_is_tls(self, tls):
        async def run() -> str | None:
            async with listening(hang_up, tls[0]) as server:
                host, _, port = server.rpartition(":")
                return await listener_protocol(host, int(port), TIMEOUT_S)

        assert asyncio.run(run()) == TLS

    def test_a_clear_kafka_listener_is_clear(self):
        async def run() -> str | None:
            async with listening(clear_kafka) as server:
                host, _, port = server.rpartition(":")
                return await listener_protocol(host, int(port), TIMEOUT_S)

        assert asyncio.run(run()) == CLEAR

    def test_no_evidence_is_no_answer(self):
        async def run() -> tuple[str | None, str | None]:
            async with listening(hang_up) as server:
                host, _, port = server.rpartition(":")
                hangs_up = await listener_protocol(host, int(port), TIMEOUT_S)
            # closed: nobody listens on the port any more
            return hangs_up, await listener_protocol(host, int(port), TIMEOUT_S)

        assert asyncio.run(run()) == (None, None)


class TestProtocolMismatchFailsFast:
    @pytest.mark.parametrize(("security", "want"), [
        (KafkaSecurity("PLAINTEXT"), "SSL, or SASL_SSL with a login,"),
        (KafkaSecurity("SASL_PLAINTEXT", username="ccpulse", password="pw"), "SASL_SSL"),
    ], ids=["plaintext", "sasl-plaintext"])
    def test_a_client_without_tls_at_a_tls_listener(self, tls, security, want):
        async def run() -> None:
            async with listening(hang_up, tls[0]) as server:
                await raise_if_refused(server, security, TIMEOUT_S)

        with pytest.raises(BrokerError) as raised:
            asyncio.run(run())
        server = str(raised.value).split(" ")[2]
        assert str(raised.value) == (
            f"Kafka at {server} closed the connection: its listener speaks TLS and "
            f"security_protocol is {security.protocol}; set [worker] security_protocol (or "
            f"CCPULSE_SECURITY_PROTOCOL) to {want} and ssl_cafile to the CA that signed its "
            "certificate")

    @pytest.mark.parametrize(("protocol", "want"), [("SSL", "PLAINTEXT"),
                                                    ("SASL_SSL", "SASL_PLAINTEXT")])
    def test_a_tls_client_at_a_listener_without_tls(self, tls, protocol, want):
        sasl = {"username": "ccpulse", "password": "pw"} if protocol == "SASL_SSL" else {}
        security = KafkaSecurity(protocol, cafile=str(tls[1]), **sasl)

        async def run() -> None:
            async with listening(clear_kafka) as server:
                await raise_if_refused(server, security, TIMEOUT_S)

        with pytest.raises(BrokerError) as raised:
            asyncio.run(run())
        server = str(raised.value).split(" ")[2]
        assert str(raised.value) == (
            f"Kafka at {server} did not answer the TLS handshake: its listener speaks Kafka "
            f"without TLS and security_protocol is {protocol}; set [worker] security_protocol "
            f"(or CCPULSE_SECURITY_PROTOCOL) to {want} and remove the ssl_* settings, or use "
            "the broker's TLS listener")

    def test_a_sasl_client_at_a_listener_without_sasl(self):
        security = KafkaSecurity("SASL_PLAINTEXT", username="ccpulse", password="pw")
        assert explain(IllegalSaslStateError(), "h:9092", security) == (
            "Kafka at h:9092 refused the SASL handshake: its listener takes no login and "
            "security_protocol is SASL_PLAINTEXT; set [worker] security_protocol (or "
            "CCPULSE_SECURITY_PROTOCOL) to PLAINTEXT and remove the sasl_* settings, or use the "
            "broker's SASL listener")

    def test_a_matching_listener_or_none_at_all_is_left_to_the_caller(self):
        async def run() -> None:
            async with listening(clear_kafka) as server:
                await raise_if_refused(server, KafkaSecurity(), TIMEOUT_S)
            await raise_if_refused(server, KafkaSecurity(), TIMEOUT_S)  # nobody listens

        asyncio.run(run())  # no error: the caller reports a broker that is down its own way
