"""Exceptions of ccpulse.

    CcpulseError                 -- root: a message fit for a one-line ``Error: ...`` on the CLI
     +-- ConfigError             -- the TOML configuration is invalid (names the key)
     +-- BrokerError             -- the local Kafka broker could not be fetched/started/stopped,
                                    or a broker is unreachable or refused ccpulse's login or TLS
     +-- PortInUseError          -- a port ccpulse must listen on is taken (names the option)
     +-- DemoRunningError        -- another ``ccpulse demo`` runs from the same data directory
     +-- SetupError              -- a required tool (Java, Maven, ...) is missing

Each message says what was wrong, the offending value, and what to do about it.
"""

import re

#: An address tuple's socket family as Python prints it (``, <AddressFamily.AF_INET: 2>``),
#: which aiokafka's bootstrap errors quote: noise in a message for a person.
_ADDRESS_FAMILY = re.compile(r",\s*<AddressFamily\.\w+: \d+>")


class CcpulseError(Exception):
    """Root of every error ccpulse raises on purpose."""


class ConfigError(CcpulseError):
    """The configuration file or an environment override is invalid."""


class BrokerError(CcpulseError):
    """The local Kafka broker could not be fetched, started, stopped or reached, or a broker
    refused the login (SASL) or presented a certificate ccpulse does not trust."""


class SetupError(CcpulseError):
    """A tool ccpulse needs is not installed on this machine."""


class PortInUseError(CcpulseError):
    """A port a server of ccpulse must listen on is taken; ``option`` is how to change it."""

    def __init__(self, message: str, *, port: int, option: str) -> None:
        super().__init__(message)
        self.port = port
        self.option = option


class DemoRunningError(CcpulseError):
    """A demo already runs from this data directory (``ccpulse demo --stop`` ends it)."""


def describe(exc: BaseException) -> str:
    """``exc`` as one line for a message: ``"ClassName: text"``, with the class named once.

    aiokafka's errors already start their text with their class name
    (``KafkaConnectionError: Unable to bootstrap ...``); others do not (``OSError``'s
    ``[Errno 111] Connection refused``); an exception without text is its class name alone.
    Socket families in quoted addresses are left out (``('localhost', 9092)``).
    """
    name = type(exc).__name__
    text = _ADDRESS_FAMILY.sub("", str(exc)).strip()
    if not text:
        return name
    return text if text.startswith(name) else f"{name}: {text}"
