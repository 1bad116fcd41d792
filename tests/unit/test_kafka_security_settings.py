"""Kafka security settings (``streams.kafka.security``): the ``[worker]`` keys and ``CCPULSE_*``
variables become one ``KafkaSecurity``, the password comes only from the environment or a file
and never shows in a ``repr``, and unsafe or inconsistent combinations are refused at start."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed

from streams.errors import ConfigError
from streams.kafka._certs import write_ca_and_server_cert
from streams.kafka.security import KafkaSecurity, explain, security_from
from streams.publish import Publisher
from streams.settings import kafka_target, load_config

SECRET = "s3cret-never-shown"


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    write_ca_and_server_cert(path, tmp_path / "broker.pem", ["127.0.0.1", "localhost"])
    return path


def sasl_env(ca: Path, **more: str) -> dict[str, str]:
    return {"CCPULSE_SECURITY_PROTOCOL": "SASL_SSL", "CCPULSE_SASL_USERNAME": "ccpulse",
            "CCPULSE_SASL_PASSWORD": SECRET, "CCPULSE_SSL_CAFILE": str(ca), **more}


class TestSecurityFromSettings:
    def test_default_is_plaintext_with_no_client_arguments(self):
        security = kafka_target(load_config(environ={})).security
        assert security == KafkaSecurity()
        assert security.aiokafka_kwargs() == {}
        assert security.faust_credentials() is None

    def test_toml_keys_and_password_file(self, tmp_path, ca):
        secret_file = tmp_path / "password"
        secret_file.write_text(SECRET + "\n")
        toml = tmp_path / "ccpulse.toml"
        toml.write_text(f'[worker]\nsecurity_protocol = "SASL_SSL"\nsasl_username = "u"\n'
                        f'sasl_password_file = "{secret_file}"\nssl_cafile = "{ca}"\n')
        security = kafka_target(load_config(toml, environ={})).security
        assert (security.protocol, security.mechanism, security.username, security.password,
                security.cafile) == ("SASL_SSL", "SCRAM-SHA-512", "u", SECRET, str(ca))

    def test_environment_password_wins_over_the_file(self, tmp_path, ca):
        config = load_config(environ=sasl_env(
            ca, CCPULSE_SASL_PASSWORD_FILE=str(tmp_path / "absent")))
        assert config.deployment.sasl_password == SECRET

    def test_aiokafka_arguments_for_sasl_ssl(self, ca):
        kwargs = kafka_target(load_config(environ=sasl_env(
            ca, CCPULSE_SASL_MECHANISM="plain"))).security.aiokafka_kwargs()
        assert isinstance(kwargs.pop("ssl_context"), ssl.SSLContext)
        assert kwargs == {"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN",
                          "sasl_plain_username": "ccpulse", "sasl_plain_password": SECRET}

    def test_faust_credentials_for_sasl_ssl(self, ca):
        import faust

        credentials = kafka_target(load_config(environ=sasl_env(ca))).security \
            .faust_credentials()
        assert isinstance(credentials, faust.SASLCredentials)
        assert (credentials.protocol.value, credentials.mechanism.value,
                credentials.username, credentials.password) == (
            "SASL_SSL", "SCRAM-SHA-512", "ccpulse", SECRET)

    def test_faust_credentials_for_tls_only(self, ca):
        import faust

        security = security_from(load_config(environ={
            "CCPULSE_SECURITY_PROTOCOL": "SSL", "CCPULSE_SSL_CAFILE": str(ca)}).deployment)
        assert isinstance(security.faust_credentials(), faust.SSLCredentials)


class TestSecretsAreMasked:
    def test_repr_of_the_settings_and_of_the_security_hide_the_password(self, ca):
        config = load_config(environ=sasl_env(ca))
        assert SECRET not in repr(config)
        assert SECRET not in repr(config.deployment)
        target = kafka_target(config)
        assert SECRET not in repr(target)
        assert "password='***'" in repr(target.security)
        assert SECRET not in target.security.describe()
        assert SECRET not in repr(target.security.faust_credentials())

    def test_the_password_is_refused_as_a_toml_key(self, tmp_path):
        toml = tmp_path / "ccpulse.toml"
        toml.write_text(f'[worker]\nsasl_password = "{SECRET}"\n')
        with pytest.raises(ConfigError, match="sasl_password is not read from the config") \
                as caught:
            load_config(toml, environ={})
        assert SECRET not in str(caught.value)


class TestRefusedCombinations:
    @pytest.mark.parametrize(("environ", "message"), [
        ({"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CCPULSE_SASL_MECHANISM": "PLAIN",
          "CCPULSE_SASL_USERNAME": "u", "CCPULSE_SASL_PASSWORD": "p"},
         "PLAIN sends the password unencrypted: use it only with security_protocol SASL_SSL"),
        ({"CCPULSE_SECURITY_PROTOCOL": "TLS"},
         r"security_protocol \(or CCPULSE_SECURITY_PROTOCOL\) must be one of PLAINTEXT, SSL"),
        ({"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CCPULSE_SASL_MECHANISM": "GSSAPI"},
         "sasl_mechanism .* must be one of SCRAM-SHA-512, PLAIN, got 'GSSAPI'"),
        ({"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CCPULSE_SASL_PASSWORD": "p"},
         "needs .worker. sasl_username"),
        ({"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CCPULSE_SASL_USERNAME": "u"},
         "needs a password: set CCPULSE_SASL_PASSWORD"),
        ({"CCPULSE_SASL_USERNAME": "u"},
         "sasl_username .* is set but security_protocol is PLAINTEXT"),
        ({"CCPULSE_SSL_CAFILE": "/etc/hostname"},
         "ssl_cafile .* is set but security_protocol is PLAINTEXT"),
        ({"CCPULSE_SECURITY_PROTOCOL": "SSL", "CCPULSE_SSL_CAFILE": "/nonexistent/ca.pem"},
         "ssl_cafile .* '/nonexistent/ca.pem' is not a file"),
        ({"CCPULSE_SECURITY_PROTOCOL": "SSL", "CCPULSE_SSL_CERTFILE": "/etc/hostname"},
         "needs both .worker. ssl_certfile and ssl_keyfile"),
    ], ids=["plain-without-tls", "unknown-protocol", "unknown-mechanism", "no-username",
            "no-password", "sasl-key-without-sasl", "tls-key-without-tls", "missing-cafile",
            "cert-without-key"])
    def test_is_a_config_error_at_load(self, environ, message):
        with pytest.raises(ConfigError, match=message):
            load_config(environ=environ)

    def test_missing_password_file(self, tmp_path):
        absent = tmp_path / "no-such-password"
        with pytest.raises(ConfigError, match=f"sasl_password_file '{absent}' does not exist"):
            load_config(environ={"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                 "CCPULSE_SASL_USERNAME": "u",
                                 "CCPULSE_SASL_PASSWORD_FILE": str(absent)})

    def test_empty_password_file(self, tmp_path):
        empty = tmp_path / "password"
        empty.write_text("\n")
        with pytest.raises(ConfigError, match="is empty; put the password on its first line"):
            load_config(environ={"CCPULSE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                                 "CCPULSE_SASL_USERNAME": "u",
                                 "CCPULSE_SASL_PASSWORD_FILE": str(empty)})


class TestExplainFailures:
    SECURITY = KafkaSecurity("SASL_SSL", "SCRAM-SHA-512", "ccpulse", SECRET, "/x/ca.pem")

    def test_refused_login(self):
        message = explain(SaslAuthenticationFailed("invalid credentials"), "h:9093",
                          self.SECURITY)
        assert message == ("Kafka at h:9093 refused the login of user 'ccpulse' "
                           "(SCRAM-SHA-512): wrong username or password; check "
                           "CCPULSE_SASL_PASSWORD or the file in sasl_password_file")

    def test_untrusted_certificate(self):
        error = ssl.SSLCertVerificationError(1, "certificate verify failed")
        error.verify_message = "self-signed certificate in certificate chain"
        message = explain(error, "h:9093", self.SECURITY)
        assert message is not None and "\n" not in message
        assert message.startswith("the TLS certificate of Kafka at h:9093 is not trusted by "
                                  "the CA in ssl_cafile '/x/ca.pem': self-signed")

    def test_an_unreachable_broker_is_left_to_the_caller(self):
        assert explain(KafkaConnectionError("refused"), "h:9093", self.SECURITY) is None
        assert explain(ConnectionRefusedError(111, "refused"), "h:9093", self.SECURITY) is None


class TestPublisherGetsTheSecurity:
    def test_producer_arguments(self, ca):
        seen = {}

        def factory(**config):
            seen.update(config)

        security = kafka_target(load_config(environ=sasl_env(ca))).security
        Publisher("localhost:9093", producer_factory=factory, security=security)
        assert (seen["security_protocol"], seen["sasl_mechanism"], seen["sasl_plain_username"],
                seen["sasl_plain_password"]) == ("SASL_SSL", "SCRAM-SHA-512", "ccpulse", SECRET)
