"""Exceptions of ccpulse.

    CcpulseError                 -- root: a message fit for a one-line ``Error: ...`` on the CLI
     +-- ConfigError             -- the TOML configuration is invalid (names the key)
     +-- BrokerError             -- the local Kafka broker could not be fetched/started/stopped
     +-- SetupError              -- a required tool (Java, Maven, ...) is missing

Each message says what was wrong, the offending value, and what to do about it.
"""


class CcpulseError(Exception):
    """Root of every error ccpulse raises on purpose."""


class ConfigError(CcpulseError):
    """The configuration file or an environment override is invalid."""


class BrokerError(CcpulseError):
    """The local Kafka broker could not be fetched, started, stopped or reached."""


class SetupError(CcpulseError):
    """A tool ccpulse needs is not installed on this machine."""
