"""The floor wallboard: ``/wallboard.json`` from one snapshot of the families, its colours,
filters and freshness, and the static page that draws it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from kpi_helpers import Centre, call, us

from streams.core.config import parse_config
from streams.core.kpis import all_families, contact_families
from streams.core.metrics import Family, new_family
from streams.wallboard import (
    ASSETS,
    BAD,
    GOOD,
    WARN,
    agents_level,
    asset,
    csat_level,
    rising,
    sl_level,
    wait_level,
    wallboard_model,
)

NOW = "2026-11-22T09:05:00Z"
NOW_S = us(NOW) / 1e6
REPO = Path(__file__).resolve().parents[2]


def family(name: str, samples: dict[tuple[str, ...], float]) -> Family:
    fam = new_family(name)
    fam.samples.update(samples)
    return fam


def centre() -> Centre:
    """sales: one answered after 30 s (misses the 20 s threshold), one waiting since 09:01;
    support: one answered after 5 s."""
    c = Centre()
    call(c, "a", "sales", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:30Z")
    call(c, "b", "sales", "2026-11-22T09:01:00Z")
    call(c, "c", "support", "2026-11-22T09:00:00Z", "answered", "2026-11-22T09:00:05Z")
    c.feed()
    return c


def model(families: list[Family], raw_config: dict | None = None, **kw):
    return wallboard_model(families, parse_config(raw_config or {}), now_s=NOW_S, **kw)


def tile(doc: dict, queue: str, channel: str) -> dict:
    (found,) = [t for t in doc["contacts"] if (t["queue"], t["channel"]) == (queue, channel)]
    return found["metrics"]


class TestContactTiles:
    def test_one_tile_per_queue_and_channel_with_the_values_of_the_families(self):
        c = centre()
        doc = model(contact_families(c.config, [c.engine.ledger], us(NOW)))
        assert [(t["queue"], t["channel"]) for t in doc["contacts"]] == [
            ("sales", "voice"), ("support", "voice")]
        sales = tile(doc, "sales", "voice")
        assert sales["waiting"] == {"value": 1, "level": GOOD}
        assert sales["oldest_wait"] == {"value": 240.0, "level": BAD}  # 4 min > 20 s
        assert sales["sl_interval"] == {"value": 0.0, "level": BAD}
        assert sales["asa"] == {"value": 30.0, "level": BAD}
        support = tile(doc, "support", "voice")
        assert support["sl_interval"] == {"value": 1.0, "level": GOOD}
        assert support["asa"] == {"value": 5.0, "level": GOOD}
        assert doc["contacts"][0]["target_ratio"] == 0.8
        assert doc["contacts"][0]["threshold_seconds"] == 20.0

    def test_every_value_is_the_sample_metrics_serves(self):
        c = centre()
        families = all_families(c.config, [c.engine.ledger], us(NOW))
        by_name = {f.name: f for f in families}
        doc = model(families)
        shown = tile(doc, "sales", "voice")
        pairs = {
            "waiting": ("cc_queue_contacts_waiting", ("sales", "voice")),
            "oldest_wait": ("cc_queue_oldest_wait_seconds", ("sales", "voice")),
            "sl_interval": ("cc_service_level_ratio", ("sales", "voice", "interval")),
            "sl_today": ("cc_service_level_ratio", ("sales", "voice", "today")),
            "asa": ("cc_average_speed_of_answer_seconds", ("sales", "voice", "interval")),
            "abandoned": ("cc_window_contacts_abandoned", ("sales", "voice", "today")),
        }
        for metric, (name, labels) in pairs.items():
            assert shown[metric]["value"] == by_name[name].samples[labels], metric

    def test_the_queue_s_own_target_and_threshold_set_the_colours(self):
        c = centre()
        strict = {"queues": {"support": {"service_level": {"threshold_seconds": 4,
                                                           "target_ratio": 0.9}}}}
        c2 = Centre(**strict)
        c2.feed(c.events)
        doc = model(contact_families(c2.config, [c2.engine.ledger], us(NOW)), strict)
        support = tile(doc, "support", "voice")
        assert support["sl_interval"] == {"value": 0.0, "level": BAD}  # 5 s > 4 s
        assert support["asa"] == {"value": 5.0, "level": BAD}
        assert [t["target_ratio"] for t in doc["contacts"] if t["queue"] == "support"] == [0.9]

    def test_agents_available_and_on_contact_per_queue(self):
        fams = [family("cc_queue_contacts_waiting", {("sales", "voice"): 3}),
                family("cc_agents", {("sales", "available"): 1, ("sales", "on_contact"): 7,
                                     ("sales", "not_ready"): 2})]
        shown = tile(model(fams), "sales", "voice")
        assert shown["agents_available"] == {"value": 1, "level": WARN}  # 1 free, 3 waiting
        assert shown["agents_on_contact"] == {"value": 7, "level": None}

    def test_a_missing_family_is_null_not_zero(self):
        shown = tile(model([family("cc_queue_contacts_waiting", {("sales", "chat"): 0})]),
                     "sales", "chat")
        assert shown["sl_interval"] == {"value": None, "level": None}
        assert shown["agents_available"] == {"value": None, "level": None}

    def test_no_contacts_gives_no_tiles(self):
        doc = model([])
        assert doc["contacts"] == [] and doc["tickets"] == []


class TestColours:
    @pytest.mark.parametrize(("value", "target", "level"), [
        (0.80, 0.80, GOOD), (0.95, 0.80, GOOD), (0.76, 0.80, WARN), (0.75, 0.80, WARN),
        (0.74, 0.80, BAD), (None, 0.80, None), (0.5, None, None)],
        ids=["at-target", "above", "just-below", "at-margin", "beyond-margin", "no-value",
             "no-target"])
    def test_service_level_against_the_queue_target(self, value, target, level):
        assert sl_level(value, target, 0.05) == level

    @pytest.mark.parametrize(("seconds", "level"), [
        (0, GOOD), (9.9, GOOD), (10, WARN), (20, WARN), (20.001, BAD), (None, None)],
        ids=["none-waiting", "below-half", "half", "at-threshold", "past-threshold", "no-value"])
    def test_waits_against_the_sl_threshold(self, seconds, level):
        assert wait_level(seconds, 20.0, 0.5) == level

    @pytest.mark.parametrize(("value", "level"), [(0, GOOD), (4, GOOD), (5, WARN), (10, BAD)],
                             ids=["zero", "below-amber", "amber", "red"])
    def test_counts_rise_through_amber_to_red(self, value, level):
        assert rising(value, 5, 10) == level

    @pytest.mark.parametrize(("available", "waiting", "level"), [
        (3, 0, GOOD), (3, 3, GOOD), (1, 3, WARN), (0, 1, BAD), (0, 0, GOOD), (None, 2, None)],
        ids=["idle", "as-many-as-wait", "fewer-than-wait", "none-free-with-waiting",
             "none-free-none-waiting", "no-agents-family"])
    def test_agents_available_against_contacts_waiting(self, available, waiting, level):
        assert agents_level(available, waiting) == level

    @pytest.mark.parametrize(("value", "level"), [(0.8, GOOD), (0.7, WARN), (0.69, BAD),
                                                  (None, None)],
                             ids=["green-from-80", "amber-from-70", "red-below-70", "none"])
    def test_csat_follows_the_alert_threshold(self, value, level):
        assert csat_level(value) == level

    def test_thresholds_come_from_the_wallboard_table(self):
        fams = [family("cc_queue_contacts_waiting", {("sales", "voice"): 3})]
        assert tile(model(fams), "sales", "voice")["waiting"]["level"] == GOOD
        raw = {"wallboard": {"waiting_amber": 2, "waiting_red": 3}}
        assert tile(model(fams, raw), "sales", "voice")["waiting"]["level"] == BAD

    def test_abandoned_is_coloured_by_today_s_abandon_rate(self):
        fams = [family("cc_queue_contacts_waiting", {("sales", "voice"): 0}),
                family("cc_window_contacts_abandoned", {("sales", "voice", "today"): 2}),
                family("cc_abandon_ratio", {("sales", "voice", "today"): 0.07})]
        assert tile(model(fams), "sales", "voice")["abandoned"] == {"value": 2, "level": WARN}


class TestFilters:
    FAMS = (family("cc_queue_contacts_waiting", {("sales", "voice"): 1, ("sales", "chat"): 2,
                                                 ("support", "voice"): 3}),
            family("cc_tickets_open", {("sales", "email", "high"): 4,
                                       ("support", "email", "low"): 5}))

    @pytest.mark.parametrize(("queues", "channels", "shown", "ticket_queues"), [
        ((), (), {("sales", "chat"), ("sales", "voice"), ("support", "voice")},
         ["sales", "support"]),
        (("sales",), (), {("sales", "chat"), ("sales", "voice")}, ["sales"]),
        (("sales,support",), ("voice",), {("sales", "voice"), ("support", "voice")}, []),
        (("sales", "support"), ("chat", "email"), {("sales", "chat")}, ["sales", "support"]),
        (("nobody",), (), set(), []),
    ], ids=["none", "one-queue", "comma-list-and-channel", "repeated", "unknown-queue"])
    def test_queue_and_channel_filters(self, queues, channels, shown, ticket_queues):
        doc = model(list(self.FAMS), queues=queues, channels=channels)
        assert {(t["queue"], t["channel"]) for t in doc["contacts"]} == shown
        assert [t["queue"] for t in doc["tickets"]] == ticket_queues


class TestTickets:
    FAMS = (
        family("cc_tickets_open", {("support", "email", "normal"): 3,
                                   ("support", "web", "urgent"): 2,
                                   ("billing", "email", "low"): 1}),
        family("cc_tickets_awaiting_reply", {("support", "email"): 2, ("billing", "email"): 0}),
        family("cc_tickets_first_response_overdue", {("support", "web", "urgent"): 1,
                                                     ("billing", "email", "low"): 0}),
        family("cc_window_csat_satisfied", {("support", "email", "today"): 9,
                                            ("support", "web", "today"): 1,
                                            ("support", "email", "interval"): 0}),
        family("cc_window_csat_responses", {("support", "email", "today"): 10,
                                            ("support", "web", "today"): 2,
                                            ("support", "email", "interval"): 1}),
    )

    def test_one_tile_per_queue_summing_channels_and_priorities(self):
        doc = model(list(self.FAMS))
        support = {t["queue"]: t["metrics"] for t in doc["tickets"]}["support"]
        assert support["open_tickets"] == {"value": 5, "level": GOOD}
        assert support["overdue"] == {"value": 1, "level": WARN}
        assert support["awaiting_reply"] == {"value": 2, "level": None}
        assert support["csat_today"] == {"value": 10 / 12, "level": GOOD}  # today's only

    def test_without_surveys_csat_is_null_and_a_missing_family_is_null(self):
        billing = {t["queue"]: t["metrics"] for t in model(list(self.FAMS))["tickets"]}["billing"]
        assert billing["csat_today"] == {"value": None, "level": None}
        only_open = model([self.FAMS[0]])["tickets"][0]["metrics"]
        assert only_open["overdue"] == {"value": None, "level": None}

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
        doc = model(all_families(c.config, [c.engine.ledger], us(NOW)))
        (support,) = doc["tickets"]
        assert support["metrics"]["open_tickets"]["value"] == 2
        assert support["metrics"]["csat_today"] == {"value": 0.5, "level": BAD}


class TestFreshness:
    def test_the_newest_event_of_any_topic_and_its_age(self):
        fams = [family("cc_last_event_timestamp_seconds",
                       {("cc.calls",): NOW_S - 30, ("cc.agents",): NOW_S - 5,
                        ("cc.tickets",): 0})]
        doc = model(fams)
        assert doc["newest_event_at"] == NOW_S - 5
        assert doc["newest_event_age_seconds"] == pytest.approx(5)

    def test_no_event_yet_is_null(self):
        doc = model([family("cc_last_event_timestamp_seconds", {("cc.calls",): 0})])
        assert doc["newest_event_at"] is None and doc["newest_event_age_seconds"] is None

    def test_settings_and_readiness_are_passed_to_the_page(self):
        raw = {"wallboard": {"timezone": "Europe/Lisbon", "stale_after_seconds": 30,
                             "data_stale_after_seconds": 12, "refresh_seconds": 2}}
        doc = model([], raw, health={"status": "unavailable", "reasons": ["broker down"]})
        assert (doc["timezone"], doc["stale_after_seconds"], doc["data_stale_after_seconds"],
                doc["refresh_seconds"]) == ("Europe/Lisbon", 30, 12, 2)
        assert doc["ready"] is False and doc["reasons"] == ["broker down"]

    def test_the_clock_follows_the_queues_zone_unless_the_wallboard_names_one(self):
        assert model([], {"defaults": {"timezone": "America/Chicago"}})["timezone"] == \
            "America/Chicago"
        assert model([])["timezone"] == "UTC"


class TestStaticPage:
    def test_every_asset_exists_and_the_page_links_them_relatively(self):
        html = asset("wallboard.html").decode()
        assert 'href="wallboard.css"' in html and 'src="wallboard.js"' in html
        assert html.index('src="clock.js"') < html.index('src="wallboard.js"')  # timeOfDay first
        assert "function timeOfDay(" not in asset("wallboard.js").decode()
        for name in ASSETS:
            assert len(asset(name)) > 100, name

    def test_the_page_polls_the_json_endpoint_and_keeps_the_query(self):
        js = asset("wallboard.js").decode()
        assert 'fetch("wallboard.json" + window.location.search' in js

    def test_sizes_follow_the_viewport_not_fixed_pixels(self):
        css = asset("wallboard.css").decode()
        font_sizes = [line for line in css.splitlines() if "font-size:" in line]
        assert font_sizes and all("clamp(" in line for line in font_sizes), font_sizes

    def test_unknown_asset_is_refused(self):
        with pytest.raises(KeyError):
            asset("../core/config.py")

    def test_assets_are_package_data(self):
        pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
        patterns = pyproject["tool"]["setuptools"]["package-data"]["streams"]
        for name in ASSETS:
            assert any(Path("web", name).match(p) for p in patterns), name
