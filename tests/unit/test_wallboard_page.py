"""The worker's HTML wallboard page renders the floor numbers from one snapshot."""

from __future__ import annotations

import pytest
from kpi_helpers import Centre, call, us

from streams.core.kpis import all_families, contact_families
from streams.core.metrics import Family, new_family
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


# ------------------------------------------------------------------ back office

def family(name: str, samples: dict[tuple[str, ...], float]) -> Family:
    fam = new_family(name)
    fam.samples.update(samples)
    return fam


def back_office_families() -> list[Family]:
    """support: 3 + 2 open (email normal, web urgent), 1 overdue, CSAT today 9 of 10 by email
    and 1 of 2 by web (10 of 12), and 0 of 1 this interval; billing: 1 open, no survey."""
    return [
        family("cc_tickets_open", {("support", "email", "normal"): 3,
                                   ("support", "web", "urgent"): 2,
                                   ("billing", "email", "low"): 1}),
        family("cc_tickets_awaiting_reply", {("support", "email"): 2, ("billing", "email"): 0}),
        family("cc_tickets_first_response_overdue", {("support", "web", "urgent"): 1,
                                                     ("support", "email", "normal"): 0,
                                                     ("billing", "email", "low"): 0}),
        family("cc_window_csat_satisfied", {("support", "email", "today"): 9,
                                            ("support", "web", "today"): 1,
                                            ("support", "email", "interval"): 0}),
        family("cc_window_csat_responses", {("support", "email", "today"): 10,
                                            ("support", "web", "today"): 2,
                                            ("support", "email", "interval"): 1}),
    ]


class TestBackOffice:
    def test_centre_tiles_sum_every_queue_and_csat_divides_the_sums(self):
        html = render_wallboard(back_office_families())
        assert ("<div class='tile'><div class='label'>Open tickets</div>"
                "<div class='big '>6</div></div>") in html
        assert ("<div class='label'>First responses overdue</div>"
                "<div class='big bad'>1</div>") in html
        # 10 of 12 today (83 %), green; the interval's 0 of 1 is not today's
        assert "<div class='label'>CSAT today</div><div class='big good'>83%</div>" in html

    def test_one_row_per_queue_with_open_awaiting_overdue_and_csat(self):
        html = render_wallboard(back_office_families())
        assert ("<tr><th>support</th><td class='big'>5</td><td>2</td>"
                "<td class='bad'>1</td><td class='good'>83%</td></tr>") in html
        # billing: no survey today, nothing overdue
        assert ("<tr><th>billing</th><td class='big'>1</td><td>0</td>"
                "<td class=''>0</td><td class=''>–</td></tr>") in html

    @pytest.mark.parametrize(
        ("satisfied", "responses", "shown"),
        [(8, 10, "<td class='good'>80%</td>"), (7, 10, "<td class='warn'>70%</td>"),
         (6, 10, "<td class='bad'>60%</td>"), (0, 0, "<td class=''>–</td>")],
        ids=["green-from-80", "amber-from-70", "red-below-70", "no-responses"],
    )
    def test_csat_colours_follow_the_alert_threshold(self, satisfied, responses, shown):
        html = render_wallboard([
            family("cc_window_csat_satisfied", {("sales", "chat", "today"): satisfied}),
            family("cc_window_csat_responses", {("sales", "chat", "today"): responses}),
        ])
        assert f"<tr><th>sales</th><td class='big'>–</td><td>–</td><td class=''>–</td>{shown}" \
            in html

    def test_without_ticket_or_survey_families_the_section_is_left_out(self):
        c = Centre()
        call(c, "a", "sales", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:30Z")
        c.feed()
        html = render_wallboard(contact_families(c.config, [c.engine.ledger], us(NOW)))
        assert "Tickets &amp; customers" not in html and "Open tickets" not in html

    def test_a_missing_family_shows_a_dash_not_zero(self):
        html = render_wallboard([family("cc_tickets_open", {("support", "email", "high"): 4})])
        assert "<div class='label'>First responses overdue</div><div class='big '>–</div>" in html
        assert "<div class='label'>CSAT today</div><div class='big '>–</div>" in html
        assert "<tr><th>support</th><td class='big'>4</td><td>–</td><td class=''>–</td>" in html

    def test_queue_names_are_escaped(self):
        html = render_wallboard([family("cc_tickets_open", {("<b>", "email", "high"): 1})])
        assert "<b>" not in html and "<th>&lt;b&gt;</th>" in html

    def test_the_engine_s_ticket_and_survey_families_fill_it(self):
        c = Centre()
        c.event("ticket.created", "2026-11-22T08:00:00Z", ticket_id="t1", queue="support",
                channel="email", priority="urgent")
        c.event("ticket.created", "2026-11-22T08:30:00Z", ticket_id="t2", queue="support",
                channel="web")
        c.event("survey.responded", "2026-11-22T09:00:00Z", survey="csat", score=5,
                queue="support", channel="email")
        c.event("survey.responded", "2026-11-22T09:01:00Z", survey="csat", score=2,
                queue="support", channel="email")
        c.feed()
        html = render_wallboard(all_families(c.config, [c.engine.ledger], us(NOW)))
        assert "<tr><th>support</th><td class='big'>2</td><td>2</td>" in html
        assert "<div class='label'>CSAT today</div><div class='big bad'>50%</div>" in html
