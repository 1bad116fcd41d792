"""The commands docs/security.md gives for the web endpoints' certificate ("Making the
certificate") make files the web config file accepts, and a client that trusts what the docs
say to trust verifies the worker's certificate for the names given. The commands are read from
the document, so a broken command there fails here."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from streams.webconfig import WebConfig, load_web_config

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"
NAMES = ("ccpulse.example.net", "10.0.0.5")
TIMEOUT_S = 30


def documented_commands() -> list[str]:
    """The commands of the code blocks of the section "Making the certificate"."""
    text = SECURITY_MD.read_text()
    section = text.split("### Making the certificate\n", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)
    return [block.replace("\\\n", " ").strip() for block in blocks]


def run(command: str, cwd: Path) -> None:
    argv = shlex.split(command)
    if argv[0] == ".venv/bin/python":
        argv[0] = sys.executable
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    assert done.returncode == 0, done.stderr


def web_config(tmp_path: Path, cert_file: Path, key_file: Path) -> WebConfig:
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {cert_file}\n  key_file: {key_file}\n")
    return load_web_config(str(path))


def handshake(server: ssl.SSLContext, trusted: Path, name: str) -> None:
    """A TLS handshake with ``server`` by a client that trusts ``trusted`` and asks for
    ``name`` (the certificate must name it)."""
    client = ssl.create_default_context(cafile=str(trusted))

    async def exchange() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"ok")
            await writer.drain()
            writer.close()

        listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server)
        port = listener.sockets[0].getsockname()[1]
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname=name)
            assert await reader.read() == b"ok"
            writer.close()
        finally:
            listener.close()
            await listener.wait_closed()

    asyncio.run(asyncio.wait_for(exchange(), TIMEOUT_S))


def test_the_section_has_the_openssl_and_the_python_command():
    commands = documented_commands()
    assert [c.split()[0] for c in commands] == ["openssl", ".venv/bin/python"]
    for command in commands:
        assert all(name in command for name in NAMES), command


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("name", NAMES)
def test_the_self_signed_certificate_of_openssl_serves_and_verifies(tmp_path, name):
    run(documented_commands()[0], tmp_path)
    config = web_config(tmp_path, tmp_path / "web.crt", tmp_path / "web.key")
    context = config.ssl_context()
    assert context is not None
    handshake(context, tmp_path / "web.crt", name)


@pytest.mark.parametrize("name", NAMES)
def test_the_private_ca_of_the_python_command_serves_and_verifies(tmp_path, name):
    run(documented_commands()[1], tmp_path)
    assert (tmp_path / "web.pem").stat().st_mode & 0o077 == 0  # the key is its owner's only
    config = web_config(tmp_path, tmp_path / "web.pem", tmp_path / "web.pem")
    context = config.ssl_context()
    assert context is not None
    handshake(context, tmp_path / "web-ca.pem", name)


def test_a_name_the_certificate_does_not_have_is_refused(tmp_path):
    run(documented_commands()[1], tmp_path)
    context = web_config(tmp_path, tmp_path / "web.pem", tmp_path / "web.pem").ssl_context()
    assert context is not None
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, tmp_path / "web-ca.pem", "elsewhere.example.net")
