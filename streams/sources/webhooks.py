"""``ccpulse connect http``: a webhook receiver for Zendesk and Chatwoot (aiohttp).

Routes: ``POST /zendesk``, ``POST /chatwoot`` (and ``POST /chatwoot/{token}`` for Chatwoot
versions that do not sign), ``GET /healthz``, ``GET /stats``. For each POST, in order:

1. the body is read (more than :data:`MAX_BODY_BYTES`: **413**);
2. the request is authenticated (:func:`streams.sources.zendesk.check_signature`,
   :func:`streams.sources.chatwoot.check_signature` or the URL token): a missing, wrong or
   stale signature is **401** and publishes nothing; a system with no secret configured is
   **404**;
3. the JSON is mapped by the pure mappers (:mod:`streams.sources.zendesk`,
   :mod:`streams.sources.chatwoot`), and every event is checked with the engine's decoder
   (:func:`streams.validation.decode_obj`); what cannot be mapped is counted by reason and
   still acknowledged -- sending it again would not make it mappable;
4. the events go to Kafka and the answer, **200**, is given only once Kafka acknowledged them
   all (``acks=all``). If that takes longer than :data:`DELIVERY_TIMEOUT_S` (the broker is
   down) the answer is **503** with ``Retry-After``: the sender retries, and the retry
   publishes the same event ids, so whatever did reach Kafka is not counted twice.

``GET /stats`` is what was received, rejected, sent and skipped so far (JSON); the same goes to
standard error as a summary on SIGINT/SIGTERM. Secrets are read once at start (environment
variable, else ``signing_secret_file``, else ``signing_secret``) and never logged.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streams.errors import ConfigError, describe

HELP = "Zendesk and Chatwoot webhooks (an HTTP receiver)"
DESCRIPTION = (
    "Listen for Zendesk ticket webhooks (POST /zendesk, signed with the webhook's signing "
    "secret) and Chatwoot webhooks (POST /chatwoot, signed by Chatwoot 4.11.2 and later, or "
    "POST /chatwoot/TOKEN), and send ticket, chat and CSAT events to Kafka. A request is "
    "answered 200 only after Kafka has its events, 503 with Retry-After when Kafka is "
    "unavailable, 401 when its signature is missing or wrong. Secrets: "
    "CCPULSE_ZENDESK_SIGNING_SECRET / CCPULSE_CHATWOOT_SIGNING_SECRET or [connect.zendesk] / "
    "[connect.chatwoot] signing_secret_file. GET /stats shows the counts; a summary is "
    "printed on exit. Details: docs/sources/webhooks.md.")

#: Largest request body accepted (Zendesk and Chatwoot payloads are a few kB).
MAX_BODY_BYTES: Final = 1024 * 1024
#: How long a request may wait for Kafka's acknowledgement before it is answered 503.
DELIVERY_TIMEOUT_S: Final = 10.0
#: ``Retry-After`` of a 503, in seconds.
RETRY_AFTER_S: Final = 30
#: Pause between two attempts to reach Kafka inside one request.
RECONNECT_PAUSE_S: Final = 0.5
EXAMPLES: Final = 3
SYSTEMS: Final = ("zendesk", "chatwoot")
#: The receiver's own web config file, when ``--web-config-file`` is not given.
WEB_CONFIG_VARIABLE: Final = "CCPULSE_CONNECT_WEB_CONFIG_FILE"
#: Answered without credentials when basic auth is on: probes carry none.
OPEN_PATHS: Final = ("/healthz",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", default="127.0.0.1:8088", metavar="HOST:PORT",
                        help="where to listen (default: 127.0.0.1:8088; put a TLS proxy in "
                             "front for the internet)")
    parser.add_argument("--web-config-file", metavar="F",
                        help="TLS and basic auth of the receiver: a web config file in the "
                             "format of Prometheus' exporters (docs/security.md) (default: "
                             f"${WEB_CONFIG_VARIABLE}, else [connect.http] web_config_file, "
                             "else plain HTTP without a login)")


# --------------------------------------------------------------------------------------------
# Settings and secrets


@dataclass(frozen=True)
class Secrets:
    """The secrets of the systems that are switched on (a system with none is off)."""

    zendesk: bytes | None = None
    chatwoot: bytes | None = None
    chatwoot_url_token: str | None = None


def read_secret(table: Mapping[str, Any], system: str, name: str,
                environ: Mapping[str, str]) -> str | None:
    """One secret: ``CCPULSE_<SYSTEM>_<NAME>`` from the environment, else the file named by
    ``<name>_file``, else ``<name>`` itself. Raises ConfigError (never showing the secret)."""
    env = f"CCPULSE_{system.upper()}_{name.upper()}"
    if environ.get(env, "").strip():
        return environ[env].strip()
    path = table.get(f"{name}_file")
    if path is not None:
        if not isinstance(path, str) or not path:
            raise ConfigError(f"connect.{system}.{name}_file must be a file name, got {path!r}")
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as file:
                text = file.read().strip()
        except OSError as exc:
            raise ConfigError(f"connect.{system}.{name}_file: cannot read {path!r} "
                              f"({exc.strerror}); check the path and its permissions") from None
        if not text:
            raise ConfigError(f"connect.{system}.{name}_file: {path!r} is empty")
        return text
    inline = table.get(name)
    if inline is not None and (not isinstance(inline, str) or not inline.strip()):
        raise ConfigError(f"connect.{system}.{name} must be a non-empty string (better: "
                          f"{name}_file or ${env})")
    return inline.strip() if isinstance(inline, str) else None


def load_secrets(connect: Mapping[str, Any], environ: Mapping[str, str]) -> Secrets:
    zendesk = read_secret(_table(connect, "zendesk"), "zendesk", "signing_secret", environ)
    chatwoot_table = _table(connect, "chatwoot")
    chatwoot = read_secret(chatwoot_table, "chatwoot", "signing_secret", environ)
    token = read_secret(chatwoot_table, "chatwoot", "url_token", environ)
    if token is not None and (len(token) < 16 or not token.replace("-", "").isalnum()):
        raise ConfigError("connect.chatwoot.url_token must be at least 16 letters, digits or "
                          "dashes (it is a password in the URL)")
    if zendesk is None and chatwoot is None and token is None:
        raise ConfigError("no webhook secret configured: set CCPULSE_ZENDESK_SIGNING_SECRET "
                          "and/or CCPULSE_CHATWOOT_SIGNING_SECRET, or signing_secret_file in "
                          "[connect.zendesk] / [connect.chatwoot] (docs/sources/webhooks.md)")
    return Secrets(zendesk.encode() if zendesk else None,
                   chatwoot.encode() if chatwoot else None, token)


def _table(connect: Mapping[str, Any], system: str) -> Mapping[str, Any]:
    table = connect.get(system, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"connect.{system} must be a table, got {table!r}")
    return table


# --------------------------------------------------------------------------------------------
# Counting


@dataclass
class SystemStats:
    """What one system's webhooks gave: requests, rejections, events, skips."""

    received: int = 0
    acknowledged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unavailable: int = 0
    events: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES:
            shown.append(detail)

    def as_json(self) -> dict[str, Any]:
        return {"received": self.received, "acknowledged": self.acknowledged,
                "rejected": dict(self.rejected), "unavailable": self.unavailable,
                "sent": sum(self.events.values()), "events": dict(self.events),
                "skipped": dict(self.skipped), "examples": self.examples}


def format_summary(stats: Mapping[str, SystemStats], target: str, took_s: float) -> str:
    """The closing lines of ``connect http``."""
    received = sum(s.received for s in stats.values())
    sent = sum(sum(s.events.values()) for s in stats.values())
    per = ", ".join(f"{name} {s.received:,}" for name, s in stats.items())
    lines = [f"connect http: received {received:,} webhooks ({per}) in {took_s:.1f} s; sent "
             f"{sent:,} events to {target}"]
    events = sum((s.events for s in stats.values()), Counter())
    if events:
        lines.append("  " + " · ".join(f"{t} {n:,}" for t, n in sorted(events.items())))
    rejected = sum((s.rejected for s in stats.values()), Counter())
    if rejected:
        lines.append(f"  rejected {sum(rejected.values()):,} (answered 4xx): " + " · ".join(
            f"{reason} {n:,}" for reason, n in rejected.most_common()))
    unavailable = sum(s.unavailable for s in stats.values())
    if unavailable:
        lines.append(f"  answered 503 (Kafka unavailable, the sender retries) {unavailable:,}")
    skipped = [(f"{name} {reason}", n, s.examples[reason][0])
               for name, s in stats.items() for reason, n in s.skipped.most_common()]
    if skipped:
        lines.append(f"  skipped {sum(n for _, n, _ in skipped):,}:")
        width = max(len(label) for label, _, _ in skipped)
        lines.extend(f"    {label:<{width}}  {n:>7,}  e.g. {example}"
                     for label, n, example in skipped)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Delivery to Kafka


class Unavailable(Exception):
    """Kafka did not acknowledge a request's events in time."""


Deliver = Callable[[list[dict[str, Any]]], Awaitable[None]]


class KafkaDelivery:
    """Sends a request's events through a :class:`~streams.publish.Publisher` and waits for
    Kafka's acknowledgement, at most ``timeout_s``.

    A publisher that lost a message is discarded (its failures would fail every later flush)
    and a new one is connected, within the same deadline, so the request after a broker
    restart succeeds.
    """

    def __init__(self, broker: str, topic_prefix: str, *,
                 timeout_s: float = DELIVERY_TIMEOUT_S, security: Any = None) -> None:
        self.broker = broker
        self.topic_prefix = topic_prefix
        self.security = security
        self.timeout_s = timeout_s
        self._publisher: Any = None
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect now (raises BrokerError: a wrong broker address fails at start)."""
        await self._connected()

    async def __call__(self, events: list[dict[str, Any]]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        last: BaseException | None = None
        while loop.time() < deadline:
            publisher = None
            try:
                async with asyncio.timeout(deadline - loop.time()):
                    publisher = await self._connected()
                    for event in events:
                        await publisher.send_event(event)
                    await publisher.flush()
                return
            except TimeoutError:
                break
            except Exception as exc:  # BrokerError, or one of aiokafka's unrelated types
                last = exc
                self._discard(publisher)
                await asyncio.sleep(min(RECONNECT_PAUSE_S, max(0.0, deadline - loop.time())))
        raise Unavailable(f"Kafka at {self.broker} did not acknowledge within "
                          f"{self.timeout_s:.0f} s" + (f" ({last})" if last else ""))

    async def _connected(self) -> Any:
        from streams.publish import LIVE_LINGER_MS, Publisher

        async with self._lock:
            if self._publisher is None:
                publisher = Publisher(self.broker, topic_prefix=self.topic_prefix,
                                      security=self.security, linger_ms=LIVE_LINGER_MS)
                await publisher.__aenter__()
                self._publisher = publisher
            return self._publisher

    def _discard(self, publisher: Any) -> None:
        if publisher is None or publisher is not self._publisher:
            return
        self._publisher = None
        task = asyncio.ensure_future(self._close(publisher))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(publisher: Any) -> None:
        with contextlib.suppress(Exception):
            await publisher.__aexit__(Unavailable, Unavailable(), None)

    async def close(self) -> None:
        """Flush what is pending (bounded) and disconnect."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timeout_s):
                    await publisher.__aexit__(None, None, None)
        for task in list(self._closing):
            task.cancel()


#: What a sender's operator should check, per rejection (the 401 body's ``message``). It
#: names headers and formats only: nothing about the secret.
_HEADERS = {
    "zendesk": ("X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp",
                "RFC 3339, e.g. 2026-03-10T09:00:00Z, as Zendesk sends it"),
    "chatwoot": ("X-Chatwoot-Signature", "X-Chatwoot-Timestamp",
                 "epoch seconds, e.g. 1773133200, as Chatwoot sends it"),
}


def _why(problem: str, system: str, max_age_s: int) -> str:
    """One line saying why a signature was rejected and what to check."""
    signature, timestamp, form = _HEADERS[system]
    return {
        "no_signature": f"signature rejected: the {signature} and {timestamp} headers are "
                        "both required",
        "bad_timestamp": f"signature rejected: {timestamp} must be {form}",
        "stale_timestamp": f"signature rejected: {timestamp} is more than {max_age_s} s from "
                           "this receiver's clock (a replayed request, or a clock that is off)",
        "bad_signature": f"signature rejected: {signature} does not match the body (the "
                         "signing secret differs, or the body was changed on the way)",
    }.get(problem, "signature rejected")


# --------------------------------------------------------------------------------------------
# The receiver


class Receiver:
    """The request handling, independent of the socket: settings, secrets, delivery, stats.

    ``deliver`` sends one request's events and returns once they are durable, or raises
    :class:`Unavailable`; ``clock`` gives epoch microseconds (signature windows, validation).
    """

    def __init__(self, connect: Mapping[str, Any], secrets: Secrets, deliver: Deliver, *,
                 clock: Callable[[], int] | None = None) -> None:
        from streams.sources import chatwoot, zendesk

        self.zendesk = zendesk.parse_settings(_table(connect, "zendesk"))
        self.chatwoot = chatwoot.parse_settings(_table(connect, "chatwoot"))
        self.secrets = secrets
        self.deliver = deliver
        self.clock = clock or (lambda: time.time_ns() // 1000)
        self.stats = {name: SystemStats() for name in SYSTEMS}
        self.started = time.monotonic()

    def app(self, auth: Any = None) -> Any:
        """The aiohttp application serving this receiver; with ``auth`` (a
        :class:`streams.webconfig.BasicAuth`) every route but ``/healthz`` needs a login."""
        from aiohttp import web

        from streams.webconfig import auth_middleware

        middlewares = [auth_middleware(auth, OPEN_PATHS)] if auth else []
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
        app.router.add_post("/zendesk", self._zendesk)
        app.router.add_post("/chatwoot", self._chatwoot)
        app.router.add_post("/chatwoot/{token}", self._chatwoot)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/stats", self._stats)
        return app

    async def _healthz(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({"status": "ok"})

    async def _stats(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({name: s.as_json() for name, s in self.stats.items()})

    async def _zendesk(self, request: Any) -> Any:
        from streams.sources import zendesk

        stats = self.stats["zendesk"]
        body = await self._body(request, stats)
        if not isinstance(body, bytes):
            return body
        now = self.clock()
        if self.secrets.zendesk is None:
            return self._reject(stats, 404, "not_configured", "Zendesk is not configured here")
        timestamp = request.headers.get(zendesk.TIMESTAMP_HEADER)
        problem = zendesk.check_signature(self.secrets.zendesk, body,
                                          request.headers.get(zendesk.SIGNATURE_HEADER),
                                          timestamp, now, self.zendesk.max_age_s)
        if problem is not None:
            return self._reject(stats, 401, problem, _why(problem, "zendesk",
                                                          self.zendesk.max_age_s))
        sent_us = _parse_or(timestamp, now)
        return await self._accept(stats, body, now,
                                  lambda data: zendesk.map_payload(data, self.zendesk, sent_us))

    async def _chatwoot(self, request: Any) -> Any:
        from streams.sources import chatwoot

        stats = self.stats["chatwoot"]
        body = await self._body(request, stats)
        if not isinstance(body, bytes):
            return body
        now = self.clock()
        token = request.match_info.get("token")
        if token is not None:
            expected = self.secrets.chatwoot_url_token
            if expected is None:
                return self._reject(stats, 404, "not_configured", "no URL token configured")
            if not hmac.compare_digest(token.encode(), expected.encode()):
                return self._reject(stats, 401, "bad_token", "token rejected")
        elif self.secrets.chatwoot is None:
            return self._reject(stats, 404 if self.secrets.chatwoot_url_token is None else 401,
                                "not_configured" if self.secrets.chatwoot_url_token is None
                                else "no_token", "Chatwoot signatures are not configured here")
        else:
            problem = chatwoot.check_signature(
                self.secrets.chatwoot, body, request.headers.get(chatwoot.SIGNATURE_HEADER),
                request.headers.get(chatwoot.TIMESTAMP_HEADER), now, self.chatwoot.max_age_s)
            if problem is not None:
                return self._reject(stats, 401, problem, _why(problem, "chatwoot",
                                                              self.chatwoot.max_age_s))
        return await self._accept(stats, body, now,
                                  lambda data: chatwoot.map_payload(data, self.chatwoot))

    async def _body(self, request: Any, stats: SystemStats) -> Any:
        from aiohttp import web

        stats.received += 1
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._reject(stats, 413, "too_large",
                                f"the body is larger than {MAX_BODY_BYTES:,} bytes")

    @staticmethod
    def _reject(stats: SystemStats, status: int, reason: str, text: str) -> Any:
        from aiohttp import web

        stats.rejected[reason] += 1
        return web.json_response({"error": reason, "message": text}, status=status)

    async def _accept(self, stats: SystemStats, body: bytes, now: int,
                      mapper: Callable[[Any], list[Any]]) -> Any:
        from aiohttp import web

        events, skips = self._map(body, now, mapper)
        if events:
            try:
                await self.deliver(events)
            except Unavailable as exc:
                stats.unavailable += 1
                print(f"connect http: answered 503: {exc}", file=sys.stderr, flush=True)
                return web.json_response(
                    {"error": "kafka_unavailable", "message": "retry later"}, status=503,
                    headers={"Retry-After": str(RETRY_AFTER_S)})
        stats.acknowledged += 1
        for event in events:
            stats.events[event["type"]] += 1
        for reason, detail in skips:
            stats.skip(reason, detail)
        return web.json_response({"events": len(events),
                                  "skipped": dict(Counter(r for r, _ in skips))})

    @staticmethod
    def _map(body: bytes, now: int, mapper: Callable[[Any], list[Any]]
             ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        import orjson

        from streams.sources.base import Skipped
        from streams.validation import Invalid, decode_obj

        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return [], [("not_json", f"the body is not JSON ({exc})")]
        try:
            mapped = list(mapper(data))
        except Exception as exc:  # a mapping bug must not take the receiver down
            return [], [("mapper_error", f"{describe(exc)} (please report this "
                                         "payload)")]
        events: list[dict[str, Any]] = []
        skips: list[tuple[str, str]] = []
        for item in mapped:
            if isinstance(item, Skipped):
                skips.append((item.reason, item.detail))
                continue
            decoded = decode_obj(item, now)
            if isinstance(decoded, Invalid):
                skips.append((f"invalid_event:{decoded.reason}",
                              f"{item.get('type')}: {decoded.message}"))
            else:
                events.append(item)
        return events, skips


def _parse_or(timestamp: str | None, default_us: int) -> int:
    from streams.core.timestamps import parse_us

    try:
        return parse_us(str(timestamp))
    except ValueError:
        return default_us


# --------------------------------------------------------------------------------------------
# The command


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6). Raises ConfigError."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen must be HOST:PORT like 127.0.0.1:8088, got {text!r}")
    return host, int(port)


def run(args: argparse.Namespace, config: Any) -> int:
    """``ccpulse connect http``: serve until SIGINT/SIGTERM, then print the summary."""
    from streams.netcheck import ensure_port_free
    from streams.settings import kafka_target
    from streams.webconfig import load_web_config

    host, port = parse_listen(args.listen)
    connect = getattr(config, "connect", {}) or {}
    secrets = load_secrets(connect, os.environ)
    web_config = load_web_config(web_config_file(args, connect, os.environ))
    target = kafka_target(config, args.broker, args.topic_prefix)
    ensure_port_free(host, port, "the webhook receiver", "--listen")
    return asyncio.run(_serve(host, port, connect, secrets, target.broker,
                              target.topic_prefix, target.security, web_config))


def web_config_file(args: argparse.Namespace, connect: Mapping[str, Any],
                    environ: Mapping[str, str]) -> str:
    """The receiver's web config file: ``--web-config-file``, else
    ``CCPULSE_CONNECT_WEB_CONFIG_FILE``, else ``[connect.http] web_config_file``, else none."""
    chosen = getattr(args, "web_config_file", None) or environ.get(WEB_CONFIG_VARIABLE)
    if chosen:
        return str(chosen)
    value = _table(connect, "http").get("web_config_file", "")
    if not isinstance(value, str):
        raise ConfigError(f"connect.http.web_config_file must be a file name, got {value!r}")
    return value


async def _serve(host: str, port: int, connect: Mapping[str, Any], secrets: Secrets,
                 broker: str, topic_prefix: str, security: Any = None,
                 web_config: Any = None) -> int:
    from aiohttp import web

    from streams.webconfig import WebConfig

    web_config = web_config or WebConfig()
    delivery = KafkaDelivery(broker, topic_prefix, security=security)
    receiver = Receiver(connect, secrets, delivery)
    await delivery.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(receiver.app(web_config.basic_auth()), access_log=None,
                           handle_signals=False)
    await runner.setup()
    label = f"Kafka {broker}" + (f" (topic prefix {topic_prefix!r})" if topic_prefix else "")
    try:
        await web.TCPSite(runner, host, port, ssl_context=web_config.ssl_context()).start()
        on = [name for name, on in (("zendesk", secrets.zendesk),
                                    ("chatwoot", secrets.chatwoot or
                                     secrets.chatwoot_url_token)) if on]
        print(f"connect http: listening on {web_config.scheme}://{host}:{port} "
              f"({', '.join('POST /' + name for name in on)}; GET /stats) → {label}",
              file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        await delivery.close()
    print(format_summary(receiver.stats, label, time.monotonic() - receiver.started),
          file=sys.stderr, flush=True)
    return 0
