"""TLS and basic auth of ccpulse's web servers, from a web config file in the format of
Prometheus' own exporters (exporter-toolkit, https://prometheus.io/docs/prometheus/latest/configuration/https/).

The worker (``/metrics``, ``/wallboard``, ...; setting ``web_config_file``) and the webhook
receiver of ``ccpulse connect http`` (``--web-config-file``) read the same YAML::

    tls_server_config:
      cert_file: /etc/ccpulse/web.crt
      key_file: /etc/ccpulse/web.key
      client_ca_file: /etc/ccpulse/clients-ca.pem      # optional: mutual TLS
      client_auth_type: RequireAndVerifyClientCert     # needed with client_ca_file
      min_version: TLS12                               # the default
    basic_auth_users:
      prometheus: $2b$10$...                           # a bcrypt hash, never the password

Without a file, or with an empty one, nothing changes: plain HTTP, no login. The file is
read and checked once at start (:func:`load_web_config`): every problem is one line naming
the file and the key. Passwords are checked with bcrypt in one background thread, and each
answer is remembered (:class:`BasicAuth`), so a scrape every 15 s costs bcrypt once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import ssl
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.errors import ConfigError

REALM = "ccpulse"
#: ``$2a$``/``$2b$``/``$2y$``, a two-digit cost (4 to 31), 22 characters of salt and 31 of hash.
BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
#: Compared against when the user is unknown, so that an unknown user costs as much as a
#: known one with a wrong password (exporter-toolkit does the same).
_UNKNOWN_USER_HASH = b"$2b$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
#: How many (user, password) answers :class:`BasicAuth` remembers.
CACHE_SIZE = 256

TLS_VERSIONS = {"TLS10": ssl.TLSVersion.TLSv1, "TLS11": ssl.TLSVersion.TLSv1_1,
                "TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
#: exporter-toolkit's ``client_auth_type`` values Python's ssl can honour. ``RequestClientCert``
#: and ``RequireAnyClientCert`` (a certificate asked for but not verified) cannot be expressed
#: in Python's ssl module, and verify nothing anyway.
CLIENT_AUTH_TYPES = {"NoClientCert": ssl.CERT_NONE,
                     "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
                     "RequireAndVerifyClientCert": ssl.CERT_REQUIRED}
_TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version",
             "max_version"}
_TOP_KEYS = {"tls_server_config", "basic_auth_users"}


@dataclass(frozen=True)
class TlsServerConfig:
    cert_file: str
    key_file: str
    client_ca_file: str = ""
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"
    max_version: str = ""


@dataclass(frozen=True)
class WebConfig:
    """A checked web config: TLS settings (or none) and bcrypt hashes by user name."""

    path: str = ""
    tls: TlsServerConfig | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context, or None for plain HTTP; one-line :class:`ConfigError`
        when a certificate or key cannot be read or do not match."""
        if self.tls is None:
            return None
        return _ssl_context(self.tls, self.path)

    def basic_auth(self) -> BasicAuth | None:
        return BasicAuth(self.users) if self.users else None


def load_web_config(path: str | None) -> WebConfig:
    """Read and check the web config file ``path`` ("" or None: TLS and auth off)."""
    if not path:
        return WebConfig()
    import yaml

    where = f"web config file {path!r}"
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist; check web_config_file (or "
                          "CCPULSE_WEB_CONFIG_FILE, or --web-config-file)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where} is not valid YAML{at}: {problem}") from None
    config = parse_web_config(raw, path)
    config.ssl_context()  # fail at start, not at the first connection
    return config


def parse_web_config(raw: Any, path: str = "") -> WebConfig:
    """Check the parsed YAML ``raw`` (None: an empty file) and build a :class:`WebConfig`."""
    where = f"web config file {path!r}" if path else "web config"
    if raw is None:
        return WebConfig(path=path)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping with tls_server_config and/or "
                          f"basic_auth_users, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]} is not supported by ccpulse; expected "
                          "tls_server_config and/or basic_auth_users")
    tls = _parse_tls(raw.get("tls_server_config"), where)
    users = _parse_users(raw.get("basic_auth_users"), where)
    return WebConfig(path=path, tls=tls, users=users)


def _parse_tls(raw: Any, where: str) -> TlsServerConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: tls_server_config must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - _TLS_KEYS)
    if unknown:
        raise ConfigError(f"{where}: tls_server_config.{unknown[0]} is not supported by "
                          f"ccpulse; expected some of {sorted(_TLS_KEYS)}")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: tls_server_config.{key} must be a string, got "
                              f"{value!r}")
    for key in ("cert_file", "key_file"):
        if not raw.get(key):
            raise ConfigError(f"{where}: tls_server_config.{key} is required (inline cert "
                              "and key are not supported: name the PEM files)")
    tls = TlsServerConfig(**{k: v for k, v in raw.items() if v})
    if tls.client_auth_type not in CLIENT_AUTH_TYPES:
        raise ConfigError(f"{where}: tls_server_config.client_auth_type "
                          f"{tls.client_auth_type!r} is not supported; use one of "
                          f"{sorted(CLIENT_AUTH_TYPES)}")
    if tls.client_ca_file and tls.client_auth_type == "NoClientCert":
        raise ConfigError(f"{where}: tls_server_config.client_ca_file is set but "
                          "client_auth_type is NoClientCert; set client_auth_type to "
                          "RequireAndVerifyClientCert (or VerifyClientCertIfGiven)")
    if tls.client_auth_type != "NoClientCert" and not tls.client_ca_file:
        raise ConfigError(f"{where}: tls_server_config.client_auth_type "
                          f"{tls.client_auth_type} needs client_ca_file, the CA that signs "
                          "the clients' certificates")
    for key in ("min_version", "max_version"):
        value = getattr(tls, key)
        if value and value not in TLS_VERSIONS:
            raise ConfigError(f"{where}: tls_server_config.{key} {value!r} is not one of "
                              f"{sorted(TLS_VERSIONS)}")
    return tls


def _parse_users(raw: Any, where: str) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: basic_auth_users must be a mapping of user name to "
                          f"bcrypt hash, got {type(raw).__name__}")
    users = {}
    for name, hashed in raw.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise ConfigError(f"{where}: basic_auth_users: user name {name!r} must be a "
                              "non-empty string without ':'")
        if not isinstance(hashed, str) or not BCRYPT_HASH.fullmatch(hashed):
            raise ConfigError(f"{where}: basic_auth_users.{name} is not a bcrypt hash (like "
                              "$2b$10$ and 53 characters); hash the password with "
                              "`htpasswd -nBC 10 \"\" | tr -d ':\\n'` (docs/security.md)")
        users[name] = hashed.encode("ascii")
    return users


def _ssl_context(tls: TlsServerConfig, path: str) -> ssl.SSLContext:
    where = f"web config file {path!r}"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    for key in ("cert_file", "key_file", "client_ca_file"):
        name = getattr(tls, key)
        if name and not Path(name).is_file():
            raise ConfigError(f"{where}: tls_server_config.{key} {name!r} does not exist")
        if name and not os.access(name, os.R_OK):
            raise ConfigError(f"{where}: tls_server_config.{key} {name!r} cannot be read "
                              "(permission denied); let the service's user read it")
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{where}: tls_server_config: cannot load cert_file "
                          f"{tls.cert_file!r} with key_file {tls.key_file!r}: "
                          f"{_ssl_reason(exc)}; both must be PEM and belong together") from None
    if tls.client_ca_file:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"{where}: tls_server_config: cannot load client_ca_file "
                              f"{tls.client_ca_file!r}: {_ssl_reason(exc)}") from None
    context.verify_mode = CLIENT_AUTH_TYPES[tls.client_auth_type]
    return context


def _ssl_reason(exc: Exception) -> str:
    """OpenSSL's words without the source location: ``[SSL] PEM lib``."""
    return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", getattr(exc, "strerror", None) or str(exc))


class BasicAuth:
    """Checks ``Authorization: Basic`` credentials against bcrypt hashes.

    Each answer (right or wrong) is remembered for its (user, password) pair, keyed by a
    SHA-256 digest so no password is kept, at most :data:`CACHE_SIZE` of them: the same
    scraper pays bcrypt (~0.15 s at cost 10) once, not every scrape. bcrypt runs in one
    background thread, never on the event loop, one check at a time. ``check`` is
    ``bcrypt.checkpw`` unless a test gives another.
    """

    def __init__(self, users: Mapping[str, bytes], *,
                 check: Callable[[bytes, bytes], bool] | None = None,
                 cache_size: int = CACHE_SIZE) -> None:
        self.users = dict(users)
        self._check = check or _bcrypt_check
        self._cache: dict[bytes, bool] = {}
        self._cache_size = cache_size
        self._executor: ThreadPoolExecutor | None = None

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s (blocking: runs bcrypt unless remembered)."""
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        known = self._cache.get(key)
        if known is None:
            known = self._verify(user, password)
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = known
        return known

    async def allowed(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries valid credentials."""
        credentials = parse_basic(authorization)
        if credentials is None:
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="ccpulse-bcrypt")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.verify, *credentials)

    def _verify(self, user: str, password: str) -> bool:
        hashed = self.users.get(user)
        try:
            ok = self._check(password.encode(), hashed or _UNKNOWN_USER_HASH)
        except ValueError:  # longer than bcrypt's 72 bytes: never a valid password
            ok = False
        return ok and hashed is not None


def _bcrypt_check(password: bytes, hashed: bytes) -> bool:
    import bcrypt

    return bcrypt.checkpw(password, hashed)


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of a ``Basic`` ``Authorization`` header value, else None."""
    import base64
    import binascii

    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = text.partition(":")
    return (user, password) if sep else None


def auth_middleware(auth: BasicAuth, open_paths: Iterable[str] = ()) -> Any:
    """An aiohttp middleware answering 401 (``WWW-Authenticate: Basic realm="ccpulse"``) to
    every request without valid credentials, except for the paths in ``open_paths``."""
    from aiohttp import web

    unguarded = frozenset(open_paths)

    @web.middleware
    async def basic_auth(request: Any, handler: Any) -> Any:
        if request.path in unguarded or await auth.allowed(request.headers.get("Authorization")):
            return await handler(request)
        return web.Response(status=401, text="401 Unauthorized\n",
                            headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})

    return basic_auth
