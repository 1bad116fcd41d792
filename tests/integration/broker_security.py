"""How the tests' own clients reach the broker: PLAINTEXT, except the external broker of
``CCPULSE_TEST_BROKER``, which gets the client security settings of the ``CCPULSE_*``
variables the commands read (``CCPULSE_SECURITY_PROTOCOL``, ``CCPULSE_SASL_*``,
``CCPULSE_SSL_*``: docs/security.md), so that the suite runs against a secure broker too.

The brokers the tests start themselves (the session's local broker, the fault suite's own) are
PLAINTEXT, so a command or worker aimed at one of them gets the environment without those
variables (:func:`environment_for`), and an in-process client no security
(:func:`security_for`).
"""

from __future__ import annotations

import os

from streams.kafka import KafkaSecurity, bootstrap_servers
from streams.settings import ENV_OVERRIDES, PASSWORD_VARIABLE, kafka_target, load_config

#: The variables of the Kafka client security settings (streams.settings).
SECURITY_VARIABLES = (
    *(var for var, key in ENV_OVERRIDES.items()
      if key.startswith(("security_", "sasl_", "ssl_"))),
    PASSWORD_VARIABLE,
)


def is_test_broker(bootstrap: str) -> bool:
    """Whether ``bootstrap`` is the external broker named by ``CCPULSE_TEST_BROKER``."""
    external = os.environ.get("CCPULSE_TEST_BROKER")
    return bool(external) and bootstrap_servers(external) == bootstrap_servers(bootstrap)


def environment_for(bootstrap: str) -> dict[str, str]:
    """The environment of a command or worker that talks to ``bootstrap``: this process's,
    without the Kafka security variables unless ``bootstrap`` is ``CCPULSE_TEST_BROKER``."""
    if is_test_broker(bootstrap):
        return dict(os.environ)
    return {k: v for k, v in os.environ.items() if k not in SECURITY_VARIABLES}


def security_for(bootstrap: str) -> KafkaSecurity:
    """The security of an in-process client of ``bootstrap`` (checked as the commands check
    it: a bad setting is one ``ConfigError`` line)."""
    if not is_test_broker(bootstrap):
        return KafkaSecurity()
    return kafka_target(load_config(environ=os.environ)).security
