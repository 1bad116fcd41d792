"""A bad web config file stops ``ccpulse worker`` and ``ccpulse connect http`` at start with
one line, before either reaches Kafka or opens a port (docs/security.md, "Web endpoints")."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.cli import main
from streams.settings import ENV_OVERRIDES


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (*ENV_OVERRIDES, "CCPULSE_CONFIG", "CCPULSE_CONNECT_WEB_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CCPULSE_ZENDESK_SIGNING_SECRET", "a-secret")
    monkeypatch.setenv("CCPULSE_BROKER", "127.0.0.1:1")  # never reached


def test_worker_with_a_missing_web_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "web.yml"
    monkeypatch.setenv("CCPULSE_WEB_CONFIG_FILE", str(missing))
    assert main(["worker"]) == 1
    assert capsys.readouterr().err == (
        f"Error: web config file '{missing}' does not exist; check web_config_file (or "
        "CCPULSE_WEB_CONFIG_FILE, or --web-config-file)\n")


def test_worker_with_a_plain_password_in_the_web_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  prometheus: hunter2\n")
    (tmp_path / "c.toml").write_text(f'[worker]\nweb_config_file = "{web}"\n')
    assert main(["worker", "--config", str(tmp_path / "c.toml")]) == 1
    assert capsys.readouterr().err == (
        f"Error: web config file '{web}': basic_auth_users.prometheus is not a bcrypt hash "
        "(like $2b$10$ and 53 characters); hash the password with "
        "`htpasswd -nBC 10 \"\" | tr -d ':\\n'` (docs/security.md)\n")


@pytest.mark.parametrize("how", ["flag", "environment", "toml"])
def test_connect_http_reads_its_own_web_config_file(
        how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    web = tmp_path / "web.yml"
    web.write_text("tls_server_config:\n  cert_file: c.pem\n")
    args = ["connect", "http", "--listen", "127.0.0.1:1"]
    if how == "flag":
        args += ["--web-config-file", str(web)]
    elif how == "environment":
        monkeypatch.setenv("CCPULSE_CONNECT_WEB_CONFIG_FILE", str(web))
    else:
        (tmp_path / "c.toml").write_text(f'[connect.http]\nweb_config_file = "{web}"\n')
        args += ["--config", str(tmp_path / "c.toml")]
    assert main(args) == 1
    assert capsys.readouterr().err == (
        f"Error: web config file '{web}': tls_server_config.key_file is required (inline cert "
        "and key are not supported: name the PEM files)\n")
