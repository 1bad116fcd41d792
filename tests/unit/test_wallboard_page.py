"""The worker's HTML wallboard page renders the floor numbers from one snapshot."""

from __future__ import annotations

from kpi_helpers import Centre, call, us

from streams.core.kpis import contact_families
from streams.wallboard import render_wallboard

NOW = "2026-11-22T09:05:00Z"


def test_wallboard_shows_each_queue_with_its_live_numbers_and_sl_colour():
    c = Centre()
    call(c, "a", "sales", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:30Z")
    call(c, "b", "sales", "2026-11-22T09:01:00Z")
    call(c, "c", "support", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
    c.feed()
    html = render_wallboard(contact_families(c.config, [c.engine.ledger], us(NOW)))
    assert "<th>sales</th><td>voice</td><td class='big'>1</td><td>4:00</td>" in html
    assert "<td class='big bad'>0%</td>" in html  # sales: 30 s > 20 s threshold
    assert "<th>support</th><td>voice</td><td class='big'>0</td><td>0s</td>" in html
    assert "<td class='big good'>100%</td>" in html
    assert '<meta http-equiv="refresh" content="5">' in html


def test_wallboard_escapes_queue_names():
    c = Centre()
    call(c, "a", "<script>", "2026-11-22T09:00:00Z")
    c.feed()
    html = render_wallboard(contact_families(c.config, [c.engine.ledger], us(NOW)))
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_empty_wallboard_says_so():
    assert "No contacts yet." in render_wallboard([])
