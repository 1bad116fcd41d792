"""``/staffing.json`` from one snapshot of the families, the page's files, and the
wallboard's "agents needed now"."""

from __future__ import annotations

from dataclasses import replace

from kpi_helpers import Centre, call, us
from test_staffing_live import NOW, PATIENCE, centre

from streams.core.kpis import all_families
from streams.core.metrics import new_family
from streams.core.staffing import what_if
from streams.staffing_page import ASSETS, asset, rows_json, staffing_model
from streams.wallboard import WARN, agents_needed_level, wallboard_model

NOW_S = us(NOW) / 1e6


def families(c: Centre) -> list:
    return all_families(c.config, [c.engine.ledger], us(NOW))


def entry(doc: dict, queue: str = "q", channel: str = "voice") -> dict:
    (found,) = [e for e in doc["queues"] if (e["queue"], e["channel"]) == (queue, channel)]
    return found


class TestStaffingModel:
    def test_live_inputs_come_from_the_exported_families(self):
        c = centre()
        shown = entry(staffing_model(families(c), c.config, now_s=NOW_S))
        assert shown["arrival_rate_per_second"] == 5 / 1800
        assert shown["aht_seconds"] == 225.0
        assert shown["patience_seconds"] == PATIENCE
        assert shown["agents_staffed"] == 2
        assert shown["required_agents"] == {"erlang_c": 2, "erlang_a": 2}
        assert (shown["threshold_seconds"], shown["target_ratio"]) == (20, 0.8)
        assert shown["traffic_erlangs"] == 5 / 1800 * 225.0

    def test_the_time_is_named_in_the_floors_zone_as_the_wallboard_names_it(self):
        c = centre()
        assert staffing_model(families(c), c.config, now_s=NOW_S)["timezone"] == "UTC"
        floor = replace(c.config, wallboard=replace(c.config.wallboard,
                                                    timezone="Europe/Berlin"))
        doc = staffing_model(families(c), floor, now_s=NOW_S)
        assert doc["timezone"] == wallboard_model(families(c), floor, now_s=NOW_S)["timezone"]
        assert doc["timezone"] == "Europe/Berlin"

    def test_the_table_is_centred_on_the_agents_staffed_now(self):
        c = centre()
        shown = entry(staffing_model(families(c), c.config, now_s=NOW_S))
        assert shown["agents"] == 2
        assert shown["rows"] == rows_json(what_if(2, 5 / 1800, 225.0, 20, PATIENCE))
        assert [row["agents"] for row in shown["rows"]] == [1, 2, 3, 4, 5]

    def test_or_on_the_agents_asked_for(self):
        c = centre()
        shown = entry(staffing_model(families(c), c.config, now_s=NOW_S, agents=10))
        assert [row["agents"] for row in shown["rows"]] == [8, 9, 10, 11, 12, 13]

    def test_a_queue_without_an_aht_has_no_rows_and_says_why(self):
        c = Centre()
        call(c, "w", "sales", "2026-11-22T09:59:00Z")
        c.feed()
        shown = entry(staffing_model(families(c), c.config, now_s=NOW_S), "sales")
        assert shown["rows"] == [] and shown["agents"] is None
        assert shown["reason"].startswith("no AHT yet")

    def test_queue_and_channel_filters(self):
        c = centre()
        doc = staffing_model(families(c), c.config, now_s=NOW_S, queues=["other"])
        assert doc["queues"] == []
        assert doc["filters"] == {"queue": ["other"], "channel": []}
        assert len(staffing_model(families(c), c.config, now_s=NOW_S,
                                  channels=["voice"])["queues"]) == 1

    def test_an_unbounded_erlang_c_wait_is_null_in_json(self):
        rows = rows_json(what_if(3, 10 / 180, 180.0, 20.0))   # 10 erlangs on 1..6 agents
        assert rows[0]["erlang_c"]["asa_seconds"] is None
        assert rows[0]["erlang_c"]["service_level"] == 0.0


class TestPageFiles:
    def test_the_page_loads_its_script_and_links_back(self):
        html = asset("staffing.html").decode()
        assert '<script src="clock.js"></script>\n<script src="staffing.js"></script>' in html
        assert 'href="wallboard"' in html and 'href="staffing.json"' in html
        assert set(ASSETS) == {"staffing.html", "staffing.js"}
        assert b"staffing.json" in asset("staffing.js")

    def test_its_clock_is_the_wallboards_script_served_once(self):
        from streams.wallboard import ASSETS as WALLBOARD_ASSETS
        from streams.wallboard import asset as wallboard_asset

        assert "clock.js" in WALLBOARD_ASSETS  # served at /clock.js with the wallboard's files
        assert b"function timeOfDay(" in wallboard_asset("clock.js")
        assert b"function timeOfDay(" not in asset("staffing.js")

    def test_the_wallboard_links_to_it(self):
        from streams.wallboard import asset as wallboard_asset

        assert b'href="staffing"' in wallboard_asset("wallboard.html")
        assert b"agents_needed" in wallboard_asset("wallboard.js")


class TestWallboardAgentsNeeded:
    def test_tile_carries_erlang_a_requirement_and_the_agents_staffed(self):
        c = centre()
        (tile,) = wallboard_model(families(c), c.config, now_s=NOW_S)["contacts"]
        assert tile["metrics"]["agents_needed"] == {"value": 2, "level": None}
        assert tile["agents_staffed"] == 2

    def test_falls_back_to_erlang_c_without_a_patience(self):
        fams = [new_family("cc_queue_contacts_waiting"), new_family("cc_erlang_required_agents"),
                new_family("cc_agents")]
        fams[0].samples[("q", "voice")] = 4
        fams[1].samples[("q", "voice")] = 7
        fams[2].samples[("q", "available")] = 2
        fams[2].samples[("q", "on_contact")] = 3
        c = Centre()
        (tile,) = wallboard_model(fams, c.config, now_s=NOW_S)["contacts"]
        assert tile["metrics"]["agents_needed"] == {"value": 7, "level": WARN}
        assert tile["agents_staffed"] == 5

    def test_needing_more_than_staffed_is_amber_and_fewer_is_no_colour(self):
        assert [agents_needed_level(n, 5) for n in (None, 4, 5, 6)] == [None, None, None, WARN]
