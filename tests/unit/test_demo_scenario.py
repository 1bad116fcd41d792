"""The demo's traffic shows the wallboard's colours within its first minutes: billing, kept
short of agents, goes red while support and sales stay green (same seed, same numbers)."""

from __future__ import annotations

import io

import orjson
import pytest

from streams.core.config import Config
from streams.replay import replay_streams
from streams.simulate.generator import generate
from streams.simulate.scenarios import SCENARIOS, demo_centre

START_MS = 1_795_402_800_000  # 2026-11-23T03:00:00Z: the quiet of night in the weekday profile
TARGET = 0.8
AMBER_MARGIN = 0.05


def service_levels(seed: int, minutes: int, window: str = "today",
                   ) -> dict[tuple[str, str], float]:
    events = generate(demo_centre(), seed=seed, start_ms=START_MS, duration_ms=minutes * 60_000)
    data = b"\n".join(orjson.dumps(event) for event in events)
    result = replay_streams([("demo", io.BytesIO(data))], Config(),
                            START_MS * 1000 + minutes * 60_000_000)
    levels = {}
    for family in result.families():
        if family.name == "cc_service_level_ratio":
            for labels, value in family.samples.items():
                named = dict(zip(family.labels, labels, strict=True))
                if named["window"] == window:
                    levels[named["queue"], named["channel"]] = value
    return levels


@pytest.mark.parametrize("seed", range(1, 9), ids=lambda s: f"seed-{s}")
def test_billing_is_red_within_twenty_simulated_minutes_at_night(seed):
    levels = service_levels(seed, 20)
    assert levels["billing", "voice"] < TARGET - AMBER_MARGIN
    assert levels["support", "voice"] >= TARGET


@pytest.mark.parametrize("seed", range(1, 9), ids=lambda s: f"seed-{s}")
def test_sales_is_not_red_after_forty_simulated_minutes(seed):
    for window in ("today", "interval"):
        levels = service_levels(seed, 40, window)
        for channel in ("voice", "chat"):
            assert levels["sales", channel] >= TARGET - AMBER_MARGIN, (window, channel)


def test_the_simulator_offers_the_demo_scenario():
    assert SCENARIOS["demo"] is demo_centre
