"""The rendered wallboard shows no id: three simulated hours of every event family, their
``/wallboard.json`` served beside the static page to headless Chromium, and no customer,
contact, ticket, agent or event id in the page's text or attributes. A customer id planted as
a queue name shows up there, so the check can fail. (No broker: only Chromium is needed.)

tests/unit/test_no_personal_data_out.py checks a whole day's ``/metrics`` and JSON; this test
checks what the browser draws from that JSON.
"""

from __future__ import annotations

import functools
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
from wallboard_browser import browser, needs_browser, open_page

from streams.core.config import Config
from streams.replay import replay_streams
from streams.simulate.generator import generate
from streams.simulate.model import IntradayProfile
from streams.simulate.scenarios import contact_centre
from streams.wallboard import ASSETS, asset, wallboard_model

HOURS_MS = 3 * 3_600_000
#: The contact centre at its peak whatever the hour the test runs.
BUSY = replace(contact_centre(), profile=IntradayProfile(((0.0, 1.0),)))
PLANTED = "cust-000042"
#: Every text node and attribute value of the page, once the tiles are drawn.
PAGE_STRINGS_JS = """() => [document.body.innerText, ...[...document.querySelectorAll('*')]
  .flatMap((el) => [...el.attributes].map((a) => a.value))]"""


def ids_in(event: dict[str, Any]) -> Iterator[str]:
    for key, value in event.items():
        if (key.endswith("_id") or key in ("to_agent", "referred_by")) and isinstance(value, str):
            yield value


def board(plant: bool) -> tuple[bytes, set[str]]:
    """``/wallboard.json`` after three busy hours ending now, and every id of their events."""
    start_ms = time.time_ns() // 1_000_000 - HOURS_MS
    events = list(generate(BUSY, seed=5, start_ms=start_ms, duration_ms=HOURS_MS))
    if plant:
        next(e for e in events if e["type"] == "call.queued")["queue"] = PLANTED
    result = replay_streams([("hours", io.BytesIO(b"\n".join(map(orjson.dumps, events))))],
                            Config())
    model = wallboard_model(result.families(), Config(), now_s=time.time())
    return orjson.dumps(model), {i for e in events for i in ids_in(e)} | {PLANTED}


@contextmanager
def served(folder: Path, document: bytes) -> Iterator[str]:
    for name in ASSETS:
        (folder / name).write_bytes(asset(name))
    (folder / "wallboard.json").write_bytes(document)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/wallboard.html"
    finally:
        server.shutdown()
        server.server_close()


def page_leaks(tmp_path: Path, plant: bool) -> list[str]:
    """The ids that the drawn page shows anywhere, in its text or in an attribute."""
    document, ids = board(plant)
    assert len(ids) > 10_000
    with served(tmp_path, document) as url, browser() as b:
        page = open_page(b, url)
        page.wait_for_selector("article.tile", timeout=30_000)
        tiles = page.locator("article.tile").count()
        text = "\n".join(page.evaluate(PAGE_STRINGS_JS))
    assert tiles >= 9 and "billing" in text, "not vacuous: every queue's tiles were drawn"
    return sorted(i for i in ids if i in text)


@needs_browser
def test_the_drawn_wallboard_shows_no_id(tmp_path):
    assert page_leaks(tmp_path, plant=False) == []


@needs_browser
def test_a_customer_id_used_as_a_queue_name_shows_on_the_page(tmp_path):
    assert page_leaks(tmp_path, plant=True) == [PLANTED]
