"""The web config file (streams/webconfig.py): parsing and its one-line errors, the TLS
context, basic auth with its cache, the aiohttp middleware, and how the worker hands both to
Faust's web server."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path

import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.core.config import parse_config
from streams.errors import ConfigError
from streams.kafka._certs import write_ca_and_server_cert
from streams.settings import load_config
from streams.webconfig import (
    BasicAuth,
    WebConfig,
    auth_middleware,
    load_web_config,
    parse_basic,
    parse_web_config,
)

#: Cost 4, the cheapest bcrypt allows: these tests check logic, not bcrypt's strength.
HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(CA certificate, server key + certificate chain) for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("certs")
    ca, server = folder / "ca.pem", folder / "server.pem"
    write_ca_and_server_cert(ca, server, ["127.0.0.1", "localhost"])
    return ca, server


class TestParseWebConfig:
    def test_an_empty_file_switches_nothing_on(self) -> None:
        config = parse_web_config(None, "web.yml")
        assert (config.tls, dict(config.users), config.scheme) == (None, {}, "http")
        assert config.ssl_context() is None and config.basic_auth() is None

    def test_tls_and_users_are_read(self) -> None:
        config = parse_web_config({"tls_server_config": {"cert_file": "c", "key_file": "k"},
                                   "basic_auth_users": {"prometheus": HASH}})
        assert config.tls is not None and config.tls.min_version == "TLS12"
        assert config.users == {"prometheus": HASH.encode()}
        assert config.scheme == "https"

    def test_the_hashes_stay_out_of_the_repr(self) -> None:
        assert HASH not in repr(parse_web_config({"basic_auth_users": {"p": HASH}}))

    @pytest.mark.parametrize("raw, message", [
        (["a"], "must be a mapping with tls_server_config and/or basic_auth_users, got list"),
        ({"rate_limit": {}}, "rate_limit is not supported by ccpulse"),
        ({"tls_server_config": {"cert_file": "c"}}, "tls_server_config.key_file is required"),
        ({"tls_server_config": {"cert": "PEM", "cert_file": "c", "key_file": "k"}},
         "tls_server_config.cert is not supported by ccpulse"),
        ({"tls_server_config": {"cert_file": "c", "key_file": "k",
                                "client_auth_type": "RequireAnyClientCert",
                                "client_ca_file": "ca"}},
         "client_auth_type 'RequireAnyClientCert' is not supported"),
        ({"tls_server_config": {"cert_file": "c", "key_file": "k", "client_ca_file": "ca"}},
         "client_ca_file is set but client_auth_type is NoClientCert"),
        ({"tls_server_config": {"cert_file": "c", "key_file": "k",
                                "client_auth_type": "RequireAndVerifyClientCert"}},
         "needs client_ca_file"),
        ({"tls_server_config": {"cert_file": "c", "key_file": "k", "min_version": "TLS1.2"}},
         "min_version 'TLS1.2' is not one of"),
        ({"tls_server_config": {"cert_file": 1, "key_file": "k"}},
         "tls_server_config.cert_file must be a string"),
        ({"basic_auth_users": {"prometheus": "s3cret"}},
         "basic_auth_users.prometheus is not a bcrypt hash"),
        ({"basic_auth_users": {"prometheus": "$2b$10$short"}},
         "basic_auth_users.prometheus is not a bcrypt hash"),
        ({"basic_auth_users": {"a:b": HASH}}, "user name 'a:b' must be a non-empty string"),
        ({"basic_auth_users": ["prometheus"]}, "basic_auth_users must be a mapping"),
    ], ids=["not-a-mapping", "unknown-key", "no-key-file", "inline-cert", "unverified-client",
            "ca-without-policy", "policy-without-ca", "bad-version", "not-a-string",
            "plain-password", "truncated-hash", "colon-in-name", "users-a-list"])
    def test_a_bad_file_is_one_line_naming_the_key(self, raw: object, message: str) -> None:
        with pytest.raises(ConfigError, match=r"^web config file 'w.yml'") as info:
            parse_web_config(raw, "w.yml")
        assert message in str(info.value) and "\n" not in str(info.value)

    def test_a_plain_password_gets_the_command_that_hashes_it(self) -> None:
        with pytest.raises(ConfigError, match=r"htpasswd -nBC 10"):
            parse_web_config({"basic_auth_users": {"p": "s3cret"}})


class TestLoadWebConfig:
    def test_no_file_is_off(self) -> None:
        assert load_web_config("") == WebConfig() and load_web_config(None) == WebConfig()

    def test_a_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match=r"web config file '.*nope.yml' does not exist; "
                                              r"check web_config_file"):
            load_web_config(str(tmp_path / "nope.yml"))

    def test_bad_yaml_says_where(self, tmp_path: Path) -> None:
        path = tmp_path / "web.yml"
        path.write_text("basic_auth_users:\n  a: [b\n")
        with pytest.raises(ConfigError, match=r"is not valid YAML at line 3, column 1: "):
            load_web_config(str(path))

    def test_an_unreadable_certificate(self, tmp_path: Path) -> None:
        path = tmp_path / "web.yml"
        path.write_text(f"tls_server_config:\n  cert_file: {tmp_path}/none.crt\n"
                        f"  key_file: {tmp_path}/none.key\n")
        with pytest.raises(ConfigError, match=r"tls_server_config.cert_file '.*none.crt' does "
                                              r"not exist$"):
            load_web_config(str(path))

    def test_a_key_that_is_not_the_certificates(self, tmp_path: Path,
                                                 certs: tuple[Path, Path]) -> None:
        other_ca, other = tmp_path / "ca.pem", tmp_path / "other.pem"
        write_ca_and_server_cert(other_ca, other, ["127.0.0.1"])
        path = tmp_path / "web.yml"
        path.write_text(f"tls_server_config:\n  cert_file: {certs[1]}\n  key_file: {other}\n")
        with pytest.raises(ConfigError, match=r"cannot load cert_file .* both must be PEM and "
                                              r"belong together"):
            load_web_config(str(path))

    def test_a_good_file_gives_a_server_context_with_the_minimum_version(
            self, tmp_path: Path, certs: tuple[Path, Path]) -> None:
        path = tmp_path / "web.yml"
        path.write_text(f"tls_server_config:\n  cert_file: {certs[1]}\n  key_file: {certs[1]}\n"
                        f"  client_ca_file: {certs[0]}\n"
                        "  client_auth_type: RequireAndVerifyClientCert\n"
                        f"basic_auth_users:\n  prometheus: '{HASH}'\n")
        context = load_web_config(str(path)).ssl_context()
        assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.verify_mode == ssl.CERT_REQUIRED

    def test_the_setting_comes_from_the_worker_table_or_the_environment(
            self, tmp_path: Path) -> None:
        toml = tmp_path / "c.toml"
        toml.write_text('[worker]\nweb_config_file = "/etc/ccpulse/web.yml"\n')
        assert load_config(toml, {}).deployment.web_config_file == "/etc/ccpulse/web.yml"
        env = {"CCPULSE_WEB_CONFIG_FILE": "/run/web.yml"}
        assert load_config(toml, env).deployment.web_config_file == "/run/web.yml"
        assert load_config(None, {}).deployment.web_config_file == ""


class TestBasicAuth:
    def test_right_wrong_and_unknown(self) -> None:
        auth = BasicAuth({"prometheus": HASH.encode()})
        assert auth.verify("prometheus", "s3cret")
        assert not auth.verify("prometheus", "S3cret")
        assert not auth.verify("grafana", "s3cret")

    def test_an_unknown_user_costs_a_bcrypt_check_too(self) -> None:
        calls: list[bytes] = []
        auth = BasicAuth({"p": HASH.encode()},
                         check=lambda pw, hashed: calls.append(hashed) or True)
        assert not auth.verify("nobody", "x")  # even when the check says yes
        assert len(calls) == 1 and calls[0] != HASH.encode()

    def test_each_answer_is_remembered_so_bcrypt_runs_once_per_credentials(self) -> None:
        calls: list[bytes] = []

        def check(password: bytes, hashed: bytes) -> bool:
            calls.append(password)
            return bcrypt.checkpw(password, hashed)

        auth = BasicAuth({"p": HASH.encode()}, check=check)
        assert [auth.verify("p", "s3cret") for _ in range(5)] == [True] * 5
        assert [auth.verify("p", "wrong") for _ in range(5)] == [False] * 5
        assert calls == [b"s3cret", b"wrong"]

    def test_the_cache_is_bounded_and_forgets_the_oldest(self) -> None:
        calls: list[bytes] = []
        auth = BasicAuth({"p": HASH.encode()}, cache_size=2,
                         check=lambda pw, hashed: calls.append(pw) or False)
        for password in ("a", "b", "c", "a"):
            auth.verify("p", password)
        assert calls == [b"a", b"b", b"c", b"a"]
        assert len(auth._cache) == 2

    def test_a_password_longer_than_bcrypt_reads_is_refused(self) -> None:
        auth = BasicAuth({"p": HASH.encode()})
        assert not auth.verify("p", "s3cret" + "x" * 80)

    @pytest.mark.parametrize("header, expected", [
        (None, None), ("", None), ("Bearer abc", None), ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
        (basic("p", "a:b"), ("p", "a:b")), (basic("p", ""), ("p", "")),
        ("basic " + base64.b64encode(b"p:x").decode(), ("p", "x")),
    ], ids=["none", "empty", "bearer", "not-base64", "no-colon", "colon-in-password",
            "empty-password", "lower-case-scheme"])
    def test_parse_basic(self, header: str | None, expected: tuple[str, str] | None) -> None:
        assert parse_basic(header) == expected


class TestAuthMiddleware:
    @staticmethod
    async def _get(headers: dict[str, str], path: str) -> tuple[int, str]:
        async def page(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        auth = BasicAuth({"p": HASH.encode()})
        app = web.Application(middlewares=[auth_middleware(auth, ["/healthz"])])
        app.router.add_get("/metrics", page)
        app.router.add_get("/healthz", page)
        async with TestClient(TestServer(app)) as client:
            response = await client.get(path, headers=headers)
            return response.status, response.headers.get("WWW-Authenticate", "")

    @pytest.mark.parametrize("headers, path, expected", [
        ({}, "/metrics", (401, 'Basic realm="ccpulse"')),
        ({"Authorization": basic("p", "nope")}, "/metrics", (401, 'Basic realm="ccpulse"')),
        ({"Authorization": basic("q", "s3cret")}, "/metrics", (401, 'Basic realm="ccpulse"')),
        ({"Authorization": basic("p", "s3cret")}, "/metrics", (200, "")),
        ({}, "/healthz", (200, "")),
        ({}, "/unknown", (401, 'Basic realm="ccpulse"')),
    ], ids=["no-credentials", "wrong-password", "unknown-user", "right", "open-probe",
            "unknown-path"])
    def test_only_valid_credentials_or_an_open_path_pass(
            self, headers: dict[str, str], path: str, expected: tuple[int, str]) -> None:
        assert asyncio.run(self._get(headers, path)) == expected


class TestWorkerWiring:
    """Faust's aiohttp driver takes ``web_ssl_context`` (to its TCPSite) and
    ``web_application_options`` (to its ``Application``): the worker relies on both."""

    def test_off_by_default_and_bound_to_localhost(self) -> None:
        from streams.worker.app import build_pipeline

        pipeline = build_pipeline(parse_config({}))
        conf = pipeline.app.conf
        assert (conf.web_bind, conf.web_ssl_context) == ("127.0.0.1", None)
        assert list(pipeline.app.web.web_app.middlewares) == []

    def test_the_web_config_reaches_fausts_aiohttp_site_and_application(
            self, certs: tuple[Path, Path]) -> None:
        import inspect

        from faust.web.drivers.aiohttp import Web

        from streams.worker.app import OPEN_PATHS, build_pipeline

        config = parse_web_config({"tls_server_config": {"cert_file": str(certs[1]),
                                                         "key_file": str(certs[1])},
                                   "basic_auth_users": {"p": HASH}})
        pipeline = build_pipeline(parse_config({}), config)
        assert isinstance(pipeline.app.conf.web_ssl_context, ssl.SSLContext)
        assert "ssl_context=self.app.conf.web_ssl_context" in inspect.getsource(
            Web._new_transport_tcp)
        assert [m.__name__ for m in pipeline.app.web.web_app.middlewares] == ["basic_auth"]
        assert OPEN_PATHS == ("/livez", "/readyz", "/healthz")


class TestWebhookReceiverLogin:
    """``connect http`` with basic auth: the login comes before the signature, and a request
    without one reaches neither the mapper nor Kafka; /healthz stays open."""

    def test_without_credentials_nothing_is_sent_and_with_them_the_delivery_is(self) -> None:
        from streams.core.timestamps import parse_us
        from streams.sources import zendesk
        from streams.sources.webhooks import Receiver, Secrets

        sent: list[dict[str, object]] = []

        async def deliver(events: list[dict[str, object]]) -> None:
            sent.extend(events)

        data = (Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "zendesk"
                / "01-ticket-created.json").read_bytes()
        stamp = "2026-03-10T10:00:00Z"
        signed = {zendesk.TIMESTAMP_HEADER: stamp, "Content-Type": "application/json",
                  zendesk.SIGNATURE_HEADER: zendesk.sign(b"zd", stamp, data)}

        async def main() -> list[tuple[int, str]]:
            receiver = Receiver({}, Secrets(b"zd"), deliver,
                                clock=lambda: parse_us("2026-03-10T10:00:00.25Z"))
            auth = BasicAuth({"zendesk": HASH.encode()})
            out = []
            async with TestClient(TestServer(receiver.app(auth))) as client:
                for method, path, headers in (
                        ("POST", "/zendesk", signed),
                        ("POST", "/zendesk", {**signed, "Authorization": basic("zendesk", "x")}),
                        ("GET", "/stats", {}),
                        ("GET", "/healthz", {}),
                        ("POST", "/zendesk", {**signed,
                                              "Authorization": basic("zendesk", "s3cret")})):
                    response = await client.request(method, path, data=data, headers=headers)
                    out.append((response.status, response.headers.get("WWW-Authenticate", "")))
                    if path == "/zendesk" and response.status == 401:
                        assert receiver.stats["zendesk"].received == 0
            return out

        challenge = 'Basic realm="ccpulse"'
        assert asyncio.run(main()) == [(401, challenge), (401, challenge), (401, challenge),
                                       (200, ""), (200, "")]
        assert [event["type"] for event in sent] == ["ticket.created"]

    @pytest.mark.parametrize("flag, environ, table, expected", [
        ("f.yml", {"CCPULSE_CONNECT_WEB_CONFIG_FILE": "e.yml"}, {"web_config_file": "t.yml"},
         "f.yml"),
        (None, {"CCPULSE_CONNECT_WEB_CONFIG_FILE": "e.yml"}, {"web_config_file": "t.yml"},
         "e.yml"),
        (None, {}, {"web_config_file": "t.yml"}, "t.yml"),
        (None, {"CCPULSE_WEB_CONFIG_FILE": "worker.yml"}, {}, ""),
    ], ids=["flag", "environment", "toml", "not-the-workers"])
    def test_the_receivers_file_is_flag_then_environment_then_toml(
            self, flag: str | None, environ: dict[str, str], table: dict[str, str],
            expected: str) -> None:
        import argparse

        from streams.sources.webhooks import web_config_file

        args = argparse.Namespace(web_config_file=flag)
        assert web_config_file(args, {"http": table}, environ) == expected
