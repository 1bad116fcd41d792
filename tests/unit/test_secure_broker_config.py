"""The local broker's secure mode (``ccpulse kafka start --secure``): its SASL_SSL listener in
``server.properties``, the SCRAM user added at format time, and the generated CA and broker
certificate. The plaintext broker's configuration does not change."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.kafka._certs import write_ca_and_server_cert
from streams.kafka._server_config import (
    SecureListener,
    render_server_properties,
    scram_format_option,
)


class TestSecureBrokerConfig:
    LISTENER = SecureListener(Path("/s/broker.pem"), Path("/s/ca.pem"), "ccpulse", "pw")

    def test_plaintext_broker_is_unchanged(self):
        text = render_server_properties(host="127.0.0.1", port=9092, controller_port=19093,
                                        data_dir=Path("/d"))
        assert "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:19093\n" in text
        assert "sasl" not in text and "ssl" not in text

    @pytest.mark.parametrize("secure", [False, True], ids=["plaintext", "secure"])
    def test_auto_created_topics_accept_what_ccpulse_topics_accept(self, secure):
        # a first `ccpulse produce` auto-creates its topics: they got Kafka's 1 MB before
        from streams.kafka.admin import MAX_MESSAGE_BYTES

        text = render_server_properties(host="127.0.0.1", port=9092, controller_port=19093,
                                        data_dir=Path("/d"),
                                        secure=self.LISTENER if secure else None)
        assert f"message.max.bytes={MAX_MESSAGE_BYTES}" in text.splitlines()

    def test_secure_broker_has_a_sasl_ssl_client_listener(self):
        text = render_server_properties(host="127.0.0.1", port=9092, controller_port=19093,
                                        data_dir=Path("/d"), secure=self.LISTENER)
        lines = set(text.splitlines())
        assert {"listeners=SASL_SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:19093",
                "advertised.listeners=SASL_SSL://127.0.0.1:9092",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
                "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
                "ssl.keystore.type=PEM", "ssl.keystore.location=/s/broker.pem",
                "ssl.truststore.location=/s/ca.pem"} <= lines
        assert scram_format_option(self.LISTENER) == [
            "--add-scram", "SCRAM-SHA-512=[name=ccpulse,password=pw]"]

    def test_generated_certificate_verifies_against_the_generated_ca(self, tmp_path):
        from cryptography import x509

        write_ca_and_server_cert(tmp_path / "ca.pem", tmp_path / "broker.pem",
                                 ["127.0.0.1", "localhost"])
        assert (tmp_path / "broker.pem").stat().st_mode & 0o077 == 0
        chain = x509.load_pem_x509_certificates((tmp_path / "broker.pem").read_bytes())
        ca_cert = x509.load_pem_x509_certificate((tmp_path / "ca.pem").read_bytes())
        chain[0].verify_directly_issued_by(ca_cert)
        names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
        assert names.get_values_for_type(x509.DNSName) == ["localhost"]
