"""How every ccpulse command authenticates to Kafka: TLS and SASL, configured once.

The ``[worker]`` keys (and their ``CCPULSE_*`` variables) ``security_protocol``,
``sasl_mechanism``, ``sasl_username``, ``sasl_password_file``, ``ssl_cafile``,
``ssl_certfile`` and ``ssl_keyfile`` become one :class:`KafkaSecurity`
(:func:`security_from`), which gives the keyword arguments of aiokafka's clients
(:meth:`KafkaSecurity.aiokafka_kwargs`: the producer of ``produce``/``simulate``/``connect``,
the admin client that creates topics, the worker's health probe) and Faust's
``broker_credentials`` (:meth:`KafkaSecurity.faust_credentials`). The password is never a
TOML key: it comes from ``CCPULSE_SASL_PASSWORD`` or the file ``sasl_password_file`` names,
and no ``repr`` or message shows it.

aiokafka retries a refused login like a broker that is down, and logs the reason only;
:func:`raise_if_refused` connects once and turns a refused password, an untrusted
certificate or a listener that speaks another protocol (TLS to a client without it, and the
other way round, or a SASL login it does not take or wants) into one :class:`BrokerError`
line, so commands fail at once instead.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.errors import BrokerError, ConfigError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
MECHANISMS = ("SCRAM-SHA-512", "PLAIN")
DEFAULT_MECHANISM = "SCRAM-SHA-512"
#: How long the check of a failed connection waits for the broker's verdict.
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class KafkaSecurity:
    """The security settings of a Kafka client; the default is PLAINTEXT (no TLS, no SASL)."""

    protocol: str = "PLAINTEXT"
    mechanism: str = DEFAULT_MECHANISM
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: str = ""
    certfile: str = ""
    keyfile: str = ""

    def __repr__(self) -> str:
        secret = "'***'" if self.password else "''"
        return (f"KafkaSecurity(protocol={self.protocol!r}, mechanism={self.mechanism!r}, "
                f"username={self.username!r}, password={secret}, cafile={self.cafile!r}, "
                f"certfile={self.certfile!r}, keyfile={self.keyfile!r})")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def describe(self) -> str:
        """For messages: ``SASL_SSL (SCRAM-SHA-512, user 'ccpulse')``, never the password."""
        if not self.uses_sasl:
            return self.protocol
        return f"{self.protocol} ({self.mechanism}, user {self.username!r})"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context (the CA of ``cafile``, else the system's), or None."""
        if not self.uses_tls:
            return None
        from aiokafka.helpers import create_ssl_context

        try:
            return create_ssl_context(cafile=self.cafile or None,
                                      certfile=self.certfile or None,
                                      keyfile=self.keyfile or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot load the TLS files (ssl_cafile {self.cafile!r}, ssl_certfile "
                f"{self.certfile!r}, ssl_keyfile {self.keyfile!r}): {exc}; check them in "
                "[worker] or CCPULSE_SSL_*") from None

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        if self.protocol == "PLAINTEXT":
            return {}
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_tls:
            kwargs["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            kwargs.update(sasl_mechanism=self.mechanism, sasl_plain_username=self.username,
                          sasl_plain_password=self.password)
        return kwargs

    def faust_credentials(self) -> Any:
        """Faust's ``broker_credentials`` for these settings (None for PLAINTEXT)."""
        import faust

        if self.uses_sasl:
            credentials = faust.SASLCredentials(username=self.username, password=self.password,
                                                ssl_context=self.ssl_context(),
                                                mechanism=self.mechanism)
            return credentials
        if self.uses_tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


def security_from(deployment: Any) -> KafkaSecurity:
    """Check the security settings of a ``Deployment`` and make them one object.

    Refused: an unknown protocol or mechanism, PLAIN without TLS (it sends the password as
    is), SASL without a username or password, a SASL or TLS setting under a protocol that
    does not use it (it would be ignored silently), a client certificate without its key.
    """
    protocol = deployment.security_protocol.upper()
    mechanism = (deployment.sasl_mechanism or DEFAULT_MECHANISM).upper()
    where = "[worker] {key} (or CCPULSE_{var})"

    def name(key: str) -> str:
        return where.format(key=key, var=key.upper())

    if protocol not in PROTOCOLS:
        raise ConfigError(f"{name('security_protocol')} must be one of {', '.join(PROTOCOLS)}, "
                          f"got {deployment.security_protocol!r}")
    if mechanism not in MECHANISMS:
        raise ConfigError(f"{name('sasl_mechanism')} must be one of {', '.join(MECHANISMS)}, "
                          f"got {deployment.sasl_mechanism!r}")
    sasl = protocol.startswith("SASL_")
    tls = protocol in ("SSL", "SASL_SSL")
    if sasl:
        if mechanism == "PLAIN" and not tls:
            raise ConfigError(
                "sasl_mechanism PLAIN sends the password unencrypted: use it only with "
                "security_protocol SASL_SSL, or use SCRAM-SHA-512")
        if not deployment.sasl_username:
            raise ConfigError(f"security_protocol {protocol} needs {name('sasl_username')}")
        if not deployment.sasl_password:
            raise ConfigError(
                f"security_protocol {protocol} needs a password: set CCPULSE_SASL_PASSWORD, or "
                "name a file holding it in [worker] sasl_password_file (or "
                "CCPULSE_SASL_PASSWORD_FILE)")
    else:
        for key in ("sasl_username", "sasl_password_file"):
            if getattr(deployment, key):
                raise ConfigError(f"{name(key)} is set but security_protocol is {protocol}, "
                                  "which does not use SASL: set security_protocol to SASL_SSL")
    if not tls:
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(deployment, key):
                raise ConfigError(f"{name(key)} is set but security_protocol is {protocol}, "
                                  "which does not use TLS: set security_protocol to SSL or "
                                  "SASL_SSL")
    if bool(deployment.ssl_certfile) != bool(deployment.ssl_keyfile):
        raise ConfigError("a client certificate needs both [worker] ssl_certfile and "
                          "ssl_keyfile (or CCPULSE_SSL_CERTFILE and CCPULSE_SSL_KEYFILE)")
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(deployment, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"{name(key)} {path!r} is not a file")
    return KafkaSecurity(protocol=protocol, mechanism=mechanism,
                         username=deployment.sasl_username if sasl else "",
                         password=deployment.sasl_password if sasl else "",
                         cafile=deployment.ssl_cafile, certfile=deployment.ssl_certfile,
                         keyfile=deployment.ssl_keyfile)


def read_password_file(path: str) -> str:
    """The password in ``path`` (its first line, without the line end)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"sasl_password_file {path!r} does not exist; check [worker] "
                          "sasl_password_file or CCPULSE_SASL_PASSWORD_FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read sasl_password_file {path!r}: {exc}") from None
    password = text.splitlines()[0] if text.strip() else ""
    if not password:
        raise ConfigError(f"sasl_password_file {path!r} is empty; put the password on its "
                          "first line")
    return password


async def raise_if_refused(servers: str, security: KafkaSecurity,
                           timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Connect once to each bootstrap server and raise one :class:`BrokerError` line if the
    broker refuses the login, its certificate is not trusted or its listener speaks another
    protocol than ``security``'s; return quietly otherwise (connected, or unreachable: the
    caller reports an unreachable broker its own way)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError

    kwargs = security.aiokafka_kwargs()
    for server in servers.split(","):
        host, _, port = server.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000),
                            **kwargs), timeout_s)
        except (OSError, KafkaError, TimeoutError) as exc:
            problem = None
            if _closed_by_the_broker(exc):
                problem = await _protocol_mismatch(host, int(port), server, security,
                                                   timeout_s)
            problem = problem or explain(exc, server, security)
            if problem is not None:
                raise BrokerError(problem) from None
            continue
        try:
            wants_sasl = not security.uses_sasl and await _offers_sasl(conn, timeout_s)
        finally:
            conn.close()
        if wants_sasl:  # it closes the connection at the first request without a login
            raise BrokerError(wants_a_login(server, security))


async def _offers_sasl(conn: Any, timeout_s: float) -> bool:
    """Whether the listener behind ``conn`` answers a SASL handshake with its mechanisms (a
    listener without SASL answers ILLEGAL_SASL_STATE, or nothing)."""
    from aiokafka.errors import KafkaError, UnsupportedSaslMechanismError
    from aiokafka.protocol.admin import SaslHandShakeRequest

    try:
        answer = await asyncio.wait_for(conn.send(SaslHandShakeRequest(DEFAULT_MECHANISM)),
                                        timeout_s)
    except (OSError, KafkaError, TimeoutError):
        return False
    return answer.error_code in (0, UnsupportedSaslMechanismError.errno)


def _closed_by_the_broker(exc: BaseException) -> bool:
    """The broker accepted the connection and closed it: what a listener of another protocol
    does (a refused or timed-out connection is a broker that is down, not this)."""
    from aiokafka.errors import KafkaConnectionError

    if isinstance(exc, ConnectionRefusedError):
        return False
    return isinstance(exc, (KafkaConnectionError, ConnectionError, ssl.SSLEOFError))


async def _protocol_mismatch(host: str, port: int, server: str, security: KafkaSecurity,
                             timeout_s: float) -> str | None:
    """The one-line message when the listener at ``server`` speaks TLS to a client without it
    or the other way round, or takes no SASL login from a client with one; else None."""
    from streams.kafka.listener_probe import CLEAR, TLS, listener_protocol

    listener = await listener_protocol(host, port, timeout_s)
    if listener == TLS and not security.uses_tls:
        return speaks_tls(server, security)
    if listener == CLEAR and security.uses_tls:
        return speaks_no_tls(server, security)
    return None


_SET_PROTOCOL = "set [worker] security_protocol (or CCPULSE_SECURITY_PROTOCOL) to"


def speaks_tls(server: str, security: KafkaSecurity) -> str:
    """A client without TLS, a TLS listener."""
    want = "SASL_SSL" if security.uses_sasl else "SSL, or SASL_SSL with a login,"
    return (f"Kafka at {server} closed the connection: its listener speaks TLS and "
            f"security_protocol is {security.protocol}; {_SET_PROTOCOL} {want} and ssl_cafile "
            "to the CA that signed its certificate")


def speaks_no_tls(server: str, security: KafkaSecurity) -> str:
    """A TLS client, a listener without TLS."""
    want = "SASL_PLAINTEXT" if security.uses_sasl else "PLAINTEXT"
    return (f"Kafka at {server} did not answer the TLS handshake: its listener speaks Kafka "
            f"without TLS and security_protocol is {security.protocol}; {_SET_PROTOCOL} {want} "
            "and remove the ssl_* settings, or use the broker's TLS listener")


def takes_no_login(server: str, security: KafkaSecurity) -> str:
    """A SASL client, a listener without SASL."""
    return (f"Kafka at {server} refused the SASL handshake: its listener takes no login and "
            f"security_protocol is {security.protocol}; {_SET_PROTOCOL} "
            f"{'SSL' if security.uses_tls else 'PLAINTEXT'} and remove the sasl_* settings, or "
            "use the broker's SASL listener")


def wants_a_login(server: str, security: KafkaSecurity) -> str:
    """A client without SASL, a SASL listener."""
    want = "SASL_SSL" if security.uses_tls else "SASL_PLAINTEXT (or SASL_SSL)"
    return (f"Kafka at {server} closed the connection at the first request: its listener "
            f"wants a SASL login and security_protocol is {security.protocol}; {_SET_PROTOCOL} "
            f"{want} with sasl_username and a password")


def explain(exc: BaseException, server: str, security: KafkaSecurity) -> str | None:
    """The one-line message for a refused login, an untrusted certificate or a SASL
    handshake with a listener without SASL, else None."""
    from aiokafka.errors import (
        AuthenticationFailedError,
        IllegalSaslStateError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    )

    if isinstance(exc, ssl.SSLCertVerificationError):
        trusted = (f"the CA in ssl_cafile {security.cafile!r}" if security.cafile
                   else "the system's CAs (no ssl_cafile set)")
        return (f"the TLS certificate of Kafka at {server} is not trusted by {trusted}: "
                f"{exc.verify_message or exc}; set [worker] ssl_cafile (or CCPULSE_SSL_CAFILE) "
                "to the CA that signed the broker's certificate")
    if isinstance(exc, ssl.SSLError):
        return (f"the TLS handshake with Kafka at {server} failed ({exc.reason or exc}); check "
                f"that its listener speaks {security.protocol} and the ssl_* settings")
    if isinstance(exc, (SaslAuthenticationFailed, AuthenticationFailedError)):
        return (f"Kafka at {server} refused the login of user {security.username!r} "
                f"({security.mechanism}): wrong username or password; check "
                "CCPULSE_SASL_PASSWORD or the file in sasl_password_file")
    if isinstance(exc, IllegalSaslStateError):  # the answer to a handshake it does not take
        return takes_no_login(server, security)
    if isinstance(exc, UnsupportedSaslMechanismError):
        return (f"Kafka at {server} does not accept sasl_mechanism {security.mechanism}; set "
                "[worker] sasl_mechanism (or CCPULSE_SASL_MECHANISM) to one it enables")
    return None
