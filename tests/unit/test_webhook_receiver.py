"""The HTTP behaviour of ``ccpulse connect http`` (``streams.sources.webhooks``), served by
aiohttp's own test server; Kafka is replaced by the one boundary the receiver takes as an
argument, a ``deliver`` function (the real one is exercised through a broker in
tests/integration/test_connect_http_through_kafka.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.core.timestamps import format_us, parse_us
from streams.errors import ConfigError
from streams.sources import chatwoot, zendesk
from streams.sources.webhooks import (
    MAX_BODY_BYTES,
    Receiver,
    Secrets,
    Unavailable,
    format_summary,
    load_secrets,
    parse_listen,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
ZD_SECRET = b"zendesk-signing-secret"
CW_SECRET = b"chatwoot-signing-secret"
TOKEN = "0123456789abcdef0123"
NOW_US = parse_us("2026-03-10T10:00:00.250000Z")
SECRETS = Secrets(ZD_SECRET, CW_SECRET, TOKEN)


def body(system: str, name: str) -> bytes:
    return (FIXTURES / system / name).read_bytes()


def zendesk_headers(data: bytes, stamp: str = "2026-03-10T10:00:00Z",
                    secret: bytes = ZD_SECRET) -> dict[str, str]:
    return {zendesk.TIMESTAMP_HEADER: stamp,
            zendesk.SIGNATURE_HEADER: zendesk.sign(secret, stamp, data),
            "Content-Type": "application/json"}


def chatwoot_headers(data: bytes, stamp: str = "1773136800",
                     secret: bytes = CW_SECRET) -> dict[str, str]:
    return {chatwoot.TIMESTAMP_HEADER: stamp,
            chatwoot.SIGNATURE_HEADER: chatwoot.sign(secret, stamp, data),
            "Content-Type": "application/json"}


class Kafka:
    """A recording ``deliver``: the events of every acknowledged request, in order."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.down = False

    async def __call__(self, events: list[dict[str, Any]]) -> None:
        if self.down:
            raise Unavailable("Kafka at test did not acknowledge within 10 s")
        self.sent.extend(events)


def serve(test: Callable[[TestClient, Receiver, Kafka], Awaitable[None]],
          secrets: Secrets = SECRETS) -> None:
    async def main() -> None:
        kafka = Kafka()
        receiver = Receiver({"zendesk": {"groups": {"98738": "billing"}}}, secrets, kafka,
                            clock=lambda: NOW_US)
        async with TestClient(TestServer(receiver.app())) as client:
            await test(client, receiver, kafka)

    asyncio.run(main())


class TestZendeskRequests:
    def test_a_signed_delivery_is_acknowledged_after_its_events_are_sent(self):
        async def test(client, receiver, kafka):
            data = body("zendesk", "01-ticket-created.json")
            response = await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            assert response.status == 200
            assert await response.json() == {"events": 1, "skipped": {}}
            assert [e["type"] for e in kafka.sent] == ["ticket.created"]
            assert receiver.stats["zendesk"].events == {"ticket.created": 1}

        serve(test)

    @pytest.mark.parametrize(("headers", "reason"), [
        ({}, "no_signature"),
        ({"stamp": "2026-03-10T09:54:00Z"}, "stale_timestamp"),
        ({"secret": b"wrong"}, "bad_signature"),
        ({"tamper": True}, "bad_signature"),
    ], ids=["missing", "stale", "wrong secret", "tampered body"])
    def test_a_missing_wrong_or_stale_signature_is_401_and_publishes_nothing(
            self, headers, reason):
        async def test(client, receiver, kafka):
            data = body("zendesk", "01-ticket-created.json")
            sent = data
            if headers:
                signed = zendesk_headers(data, headers.get("stamp", "2026-03-10T10:00:00Z"),
                                         headers.get("secret", ZD_SECRET))
                if headers.get("tamper"):
                    sent = data.replace(b'"HIGH"', b'"LOW"')
            else:
                signed = {}
            response = await client.post("/zendesk", data=sent, headers=signed)
            assert response.status == 401
            assert (await response.json())["error"] == reason
            assert kafka.sent == []
            assert receiver.stats["zendesk"].rejected == {reason: 1}
            assert not receiver.stats["zendesk"].events

        serve(test)

    def test_an_epoch_timestamp_is_401_saying_zendesk_sends_rfc_3339(self):
        async def test(client, receiver, kafka):
            data = body("zendesk", "01-ticket-created.json")
            stamp = str(NOW_US // 1_000_000)  # the Chatwoot form, sent to the Zendesk route
            response = await client.post("/zendesk", data=data,
                                         headers=zendesk_headers(data, stamp))
            assert response.status == 401
            assert await response.json() == {
                "error": "bad_timestamp",
                "message": "signature rejected: X-Zendesk-Webhook-Signature-Timestamp must be "
                           "RFC 3339, e.g. 2026-03-10T09:00:00Z, as Zendesk sends it"}
            assert kafka.sent == []

        serve(test)

    def test_the_same_delivery_twice_sends_the_same_events(self):
        async def test(client, receiver, kafka):
            data = body("zendesk", "09-status-solved.json")
            for _ in range(2):
                response = await client.post("/zendesk", data=data,
                                             headers=zendesk_headers(data))
                assert response.status == 200
            assert len(kafka.sent) == 2 and kafka.sent[0] == kafka.sent[1]

        serve(test)

    def test_a_satisfaction_rating_takes_the_signature_time(self):
        async def test(client, receiver, kafka):
            data = body("zendesk", "10-satisfaction-good.json")
            await client.post("/zendesk", data=data,
                              headers=zendesk_headers(data, "2026-03-10T09:59:31Z"))
            assert kafka.sent[0]["occurred_at"] == "2026-03-10T09:59:31Z"

        serve(test)


class TestChatwootRequests:
    def test_a_signed_delivery_is_acknowledged_with_its_events(self):
        async def test(client, receiver, kafka):
            data = body("chatwoot", "08-chat-resolved.json")
            response = await client.post("/chatwoot", data=data,
                                         headers=chatwoot_headers(data))
            assert response.status == 200
            assert [e["type"] for e in kafka.sent] == ["chat.ended", "chat.wrapup_ended"]

        serve(test)

    def test_a_wrong_signature_is_401(self):
        async def test(client, receiver, kafka):
            data = body("chatwoot", "08-chat-resolved.json")
            response = await client.post("/chatwoot", data=data,
                                         headers=chatwoot_headers(data, secret=b"wrong"))
            assert response.status == 401 and kafka.sent == []

        serve(test)

    def test_the_url_token_authenticates_chatwoot_versions_that_do_not_sign(self):
        async def test(client, receiver, kafka):
            data = body("chatwoot", "02-chat-message-incoming.json")
            assert (await client.post(f"/chatwoot/{TOKEN}", data=data)).status == 200
            assert (await client.post("/chatwoot/0123456789abcdef0124", data=data)).status \
                == 401
            assert (await client.post("/chatwoot", data=data)).status == 401
            assert len(kafka.sent) == 1
            assert receiver.stats["chatwoot"].rejected == {"bad_token": 1, "no_token": 1}

        serve(test, Secrets(None, None, TOKEN))

    def test_a_system_without_a_secret_is_404(self):
        async def test(client, receiver, kafka):
            data = body("zendesk", "01-ticket-created.json")
            response = await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            assert response.status == 404 and kafka.sent == []

        serve(test, Secrets(None, CW_SECRET, None))


class TestAcknowledgement:
    def test_kafka_unavailable_is_503_with_retry_after_and_counts_nothing(self):
        async def test(client, receiver, kafka):
            data = body("zendesk", "01-ticket-created.json")
            kafka.down = True
            response = await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            assert response.status == 503
            assert int(response.headers["Retry-After"]) > 0
            stats = receiver.stats["zendesk"]
            assert (stats.unavailable, stats.acknowledged, sum(stats.events.values())) == \
                (1, 0, 0)
            kafka.down = False
            response = await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            assert response.status == 200 and stats.events == {"ticket.created": 1}

        serve(test)

    def test_an_unmappable_payload_is_acknowledged_and_counted_by_reason(self):
        async def test(client, receiver, kafka):
            for data in (b"not json at all", body("zendesk", "11-tags-changed.json")):
                response = await client.post("/zendesk", data=data,
                                             headers=zendesk_headers(data))
                assert response.status == 200
            assert kafka.sent == []
            assert receiver.stats["zendesk"].skipped == {"not_json": 1,
                                                         "ignored:ticket.tags_changed": 1}

        serve(test)

    def test_an_event_the_engine_would_reject_is_skipped_not_sent(self):
        async def test(client, receiver, kafka):
            payload = json.loads(body("zendesk", "01-ticket-created.json"))
            payload["time"] = format_us(NOW_US + 3600 * 1_000_000)  # an hour in the future
            data = json.dumps(payload).encode()
            response = await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            assert response.status == 200 and kafka.sent == []
            [reason] = receiver.stats["zendesk"].skipped
            assert reason.startswith("invalid_event:")

        serve(test)

    def test_a_body_over_the_limit_is_413(self):
        async def test(client, receiver, kafka):
            data = b"{" + b" " * MAX_BODY_BYTES + b"}"
            response = await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            assert response.status == 413 and kafka.sent == []
            assert receiver.stats["zendesk"].rejected == {"too_large": 1}

        serve(test)


class TestStatsAndSummary:
    def test_stats_and_healthz_report_while_running(self):
        async def test(client, receiver, kafka):
            data = body("chatwoot", "06-chat-private-note.json")
            await client.post("/chatwoot", data=data, headers=chatwoot_headers(data))
            await client.post("/chatwoot", data=data)
            stats = await (await client.get("/stats")).json()
            assert stats["chatwoot"]["received"] == 2
            assert stats["chatwoot"]["rejected"] == {"no_signature": 1}
            assert stats["chatwoot"]["skipped"] == {"ignored:private_note": 1}
            assert (await client.get("/healthz")).status == 200

        serve(test)

    def test_the_summary_names_sent_events_rejections_and_skips(self):
        async def test(client, receiver, kafka):
            for name in ("01-ticket-created.json", "02-comment-description.json"):
                data = body("zendesk", name)
                await client.post("/zendesk", data=data, headers=zendesk_headers(data))
            await client.post("/zendesk", data=b"{}")
            text = format_summary(receiver.stats, "Kafka test:9092", 1.0)
            assert text.splitlines()[:3] == [
                "connect http: received 3 webhooks (zendesk 3, chatwoot 0) in 1.0 s; sent 1 "
                "events to Kafka test:9092",
                "  ticket.created 1",
                "  rejected 1 (answered 4xx): no_signature 1"]
            assert "zendesk ignored:first_comment" in text

        serve(test)


class TestSecretsAndOptions:
    def test_the_environment_wins_over_the_file_which_wins_over_the_inline_secret(
            self, tmp_path):
        secret_file = tmp_path / "zendesk.secret"
        secret_file.write_text("from-file\n")
        table = {"zendesk": {"signing_secret_file": str(secret_file),
                             "signing_secret": "inline"}}
        assert load_secrets(table, {}).zendesk == b"from-file"
        assert load_secrets(table, {"CCPULSE_ZENDESK_SIGNING_SECRET": "env"}).zendesk == b"env"
        assert load_secrets({"zendesk": {"signing_secret": "inline"}}, {}).zendesk == b"inline"

    def test_a_missing_secret_file_or_no_secret_at_all_is_a_one_line_error(self, tmp_path):
        with pytest.raises(ConfigError, match=r"signing_secret_file: cannot read"):
            load_secrets({"chatwoot": {"signing_secret_file": str(tmp_path / "nope")}}, {})
        with pytest.raises(ConfigError, match="no webhook secret configured"):
            load_secrets({}, {})

    def test_a_short_url_token_is_refused(self):
        with pytest.raises(ConfigError, match="url_token must be at least 16"):
            load_secrets({}, {"CCPULSE_CHATWOOT_URL_TOKEN": "short"})

    @pytest.mark.parametrize(("text", "expected"), [
        ("127.0.0.1:8088", ("127.0.0.1", 8088)), ("[::1]:9000", ("::1", 9000)),
        ("0.0.0.0:80", ("0.0.0.0", 80))], ids=lambda v: str(v))
    def test_listen_is_host_and_port(self, text, expected):
        assert parse_listen(text) == expected

    def test_a_bad_listen_address_names_the_option(self):
        with pytest.raises(ConfigError, match="--listen must be HOST:PORT"):
            parse_listen("8088")
