"""``report --prometheus`` reads each boundary with one range query ``[LOOKBACK] @ T``: the
newest sample of each series up to T is its value, workers are summed by the report's
labels, and a series with no sample in the lookback is not there (no 5-minute staleness)."""

from __future__ import annotations

import io

import pytest

from streams.core.report import SAMPLE_NAMES
from streams.errors import CcpulseError
from streams.report_sources import prometheus_snapshots, snapshot_query

T_US = 1_793_487_600_000_000  # 2026-10-31T23:00:00Z, whole seconds


def series(name: str, values: list[tuple[float, str]], **labels: str) -> dict:
    return {"metric": {"__name__": name, **labels}, "values": [list(v) for v in values]}


def answer(*result: dict) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": list(result)}}


def test_the_query_is_a_range_selector_at_the_instant_over_every_family_read():
    query = snapshot_query(T_US, 60)
    assert query.endswith('"}[60s] @ 1793487600.000000')
    assert all(name in query for name in SAMPLE_NAMES)
    assert "cc_contact_wait_seconds_sum" in query and "_bucket" not in query


def test_the_newest_sample_up_to_t_is_the_value_and_workers_are_summed():
    asked = []

    def fetch(url: str, form: dict[str, str]) -> dict:
        asked.append((url, form))
        t = T_US / 1e6
        return answer(
            series("cc_contacts_offered_total", [(t - 30, "5"), (t, "7")], queue="sales",
                   channel="voice", job="ccpulse", instance="w1:6066"),
            series("cc_contacts_offered_total", [(t - 15, "3")], queue="sales",
                   channel="voice", job="ccpulse", instance="w2:6066"),
            series("cc_tickets_open", [], queue="sales", channel="email", priority="low"))

    snaps = prometheus_snapshots("http://prom:9090/", [T_US], io.StringIO(), fetch=fetch)
    assert asked[0][0] == "http://prom:9090/api/v1/query"
    assert asked[0][1]["time"] == "1793487600.000000"
    snap = snaps[T_US]
    assert snap.total("cc_contacts_offered_total", ("queue",)) == {("sales",): 10.0}
    assert not snap.has("cc_tickets_open")


def test_a_failed_query_and_an_empty_prometheus_are_errors():
    def refuse(url: str, form: dict[str, str]) -> dict:
        return {"status": "error", "error": "bad_data: parse error"}

    with pytest.raises(CcpulseError, match="failed the query: bad_data: parse error"):
        prometheus_snapshots("http://prom:9090", [T_US], io.StringIO(), fetch=refuse)
    with pytest.raises(CcpulseError, match="has no cc_ series in or before the month"):
        prometheus_snapshots("http://prom:9090", [T_US], io.StringIO(),
                             fetch=lambda url, form: answer())
