"""Headless Chromium for the wallboard tests: Playwright driving Debian's chromium, axe-core's
contrast rule, and what the page shows read back from its DOM.

Reference screenshots go to a temporary directory; set ``CCPULSE_UPDATE_SCREENSHOTS=1`` to
write them to ``docs/images/`` for review (they are never compared pixel by pixel).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium")
SIZES = ((1280, 720), (1600, 900), (1920, 1080), (3840, 2160))
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

try:
    import axe_playwright_python
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # the dev extras are not installed
    sync_playwright = None  # type: ignore[assignment]

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None,
    reason="needs Debian's chromium and the dev extras (playwright, axe-playwright-python): "
           "run deploy/setup.sh")

#: What each tile shows, read from the DOM: (queue, channel) -> metric -> (text, value, level)
READ_TILES_JS = """() => Object.fromEntries([...document.querySelectorAll('article.tile')].map(
  (t) => [t.dataset.queue + '/' + (t.dataset.channel || 'tickets'),
          Object.fromEntries([...t.querySelectorAll('.metric')].map((m) => [m.dataset.metric, {
            text: m.querySelector('.value').textContent, value: m.dataset.value,
            level: ['good', 'warn', 'bad'].find((c) => m.classList.contains(c)) || null}]))]))"""


@contextmanager
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox",
                                                               "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


def open_page(b: Browser, url: str, width: int = 1920, height: int = 1080) -> Page:
    page = b.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("body.live, body.stale, body.down", timeout=30_000)
    return page


def tiles(page: Page) -> dict[str, dict[str, dict[str, Any]]]:
    return page.evaluate(READ_TILES_JS)


def scroll_size(page: Page) -> tuple[int, int, int, int]:
    """(scrollWidth, innerWidth, scrollHeight, innerHeight): a kiosk must not scroll."""
    return tuple(page.evaluate(  # type: ignore[return-value]
        "() => [document.scrollingElement.scrollWidth, innerWidth, "
        "document.scrollingElement.scrollHeight, innerHeight]"))


OVERFLOWING_TEXT_JS = """() => [...document.querySelectorAll('.metric .value, .metric .label')]
  .map((t) => {
    const cell = t.parentElement, box = cell.getBoundingClientRect();
    const style = getComputedStyle(cell), range = document.createRange();
    range.selectNodeContents(t);  // the text itself, not its (clamped) box
    const r = range.getBoundingClientRect();
    return [t, Math.max(box.left + parseFloat(style.paddingLeft) - r.left,
                        r.right - box.right + parseFloat(style.paddingRight))];
  }).filter(([t, over]) => over > 0.5)
  .map(([t, over]) => {
    const tile = t.closest('article');
    return tile.dataset.queue + '/' + (tile.dataset.channel || 'tickets') + ' '
      + t.parentElement.dataset.metric + ' ' + t.className + ' = ' + t.textContent
      + ' (' + over.toFixed(1) + ' px out)';
  })"""


def overflowing_text(page: Page) -> list[str]:
    """The figures and labels whose text reaches past their cell's padding ("queue/channel
    metric class = text (px out)"): they would run into the next cell (at 1280x720
    "ABANDONED" and "AVAILABLE" ran together)."""
    return page.evaluate(OVERFLOWING_TEXT_JS)  # type: ignore[no-any-return]


def contrast_violations(page: Page) -> list[str]:
    """axe-core's color-contrast rule (WCAG 2 AA) over the page as it is now."""
    script = Path(axe_playwright_python.__file__).with_name("axe.min.js")
    page.add_script_tag(path=str(script))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']}})")
    return [f"{node['target']}: {node['failureSummary']}"
            for violation in result["violations"] for node in violation["nodes"]]


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    folder = DOCS_IMAGES if os.environ.get("CCPULSE_UPDATE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path))
    return path
