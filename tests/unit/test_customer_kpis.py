"""Customer-lifecycle KPIs of contract §3.4 (calendar months), with hand-computed values."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kpi_helpers import Centre

from streams.core.engine import Engine, MemoryStore
from streams.core.entities.customer import RETENTION_US, MonthCalendar, to_micro
from streams.core.timestamps import parse_us
from streams.worker.checkpoint import encode_record

CUSTOMER_FAMILIES = ("cc_customer_", "cc_referral_ratio", "cc_window_customer",
                     "cc_window_marketing_spend")


def customer_values(c: Centre, now: str) -> dict:
    return {k: v for k, v in c.values(now).items() if k[0].startswith(CUSTOMER_FAMILIES)}


def acquired(c: Centre, cid: str, at: str, **extra: object) -> None:
    c.event("customer.acquired", at, customer_id=cid, **extra)


def revenue(c: Centre, cid: str, at: str, amount: float, currency: str = "EUR") -> None:
    c.event("customer.revenue", at, customer_id=cid, amount=amount, currency=currency)


def churned(c: Centre, cid: str, at: str) -> None:
    c.event("customer.churned", at, customer_id=cid)


def interaction(c: Centre, cid: str, at: str) -> None:
    c.event("customer.interaction", at, customer_id=cid, kind="web_visit")


def spend(c: Centre, at: str, amount: float, currency: str = "EUR") -> None:
    c.event("marketing.spend", at, amount=amount, currency=currency)


def two_months() -> Centre:
    """The worked example of docs/customers.md (UTC; January and February 2027).

    January: a, b, c, d acquired (b referred); x, older than the stream, first seen through
    revenue; revenue a 10 + x 20 = 30 EUR; interactions a ×2, x ×1; spend 400 EUR.
    February: e (referred) and f acquired; a and b churned; revenue c 30 + d 30 + e 15.5 +
    x 20 = 95.5 EUR and c 10 USD; interactions c ×3, e ×1; spend 300 EUR and 50 USD.
    """
    c = Centre()
    for cid, day in (("a", "03"), ("b", "04"), ("c", "05"), ("d", "06")):
        acquired(c, cid, f"2027-01-{day}T10:00:00Z", **({"referred_by": "a"} if cid == "b" else {}))
    revenue(c, "a", "2027-01-10T10:00:00Z", 10)
    revenue(c, "x", "2027-01-11T10:00:00Z", 20)
    interaction(c, "a", "2027-01-12T10:00:00Z")
    interaction(c, "a", "2027-01-13T10:00:00Z")
    interaction(c, "x", "2027-01-14T10:00:00Z")
    spend(c, "2027-01-02T09:00:00Z", 400)
    acquired(c, "e", "2027-02-02T10:00:00Z", referred_by="REF-7")
    acquired(c, "f", "2027-02-03T10:00:00Z")
    churned(c, "a", "2027-02-04T10:00:00Z")
    churned(c, "b", "2027-02-05T10:00:00Z")
    revenue(c, "c", "2027-02-06T10:00:00Z", 30)
    revenue(c, "d", "2027-02-07T10:00:00Z", 30)
    revenue(c, "e", "2027-02-08T10:00:00Z", 15.5)
    revenue(c, "x", "2027-02-09T10:00:00Z", 20)
    revenue(c, "c", "2027-02-10T10:00:00Z", 10, "USD")
    for day in ("11", "12", "13"):
        interaction(c, "c", f"2027-02-{day}T10:00:00Z")
    interaction(c, "e", "2027-02-14T10:00:00Z")
    spend(c, "2027-02-01T09:00:00Z", 300)
    spend(c, "2027-02-01T09:30:00Z", 50, "USD")
    return c


NOW = "2027-02-20T12:00:00Z"  # window month = February, previous_month = January


class TestTwoMonthExample:
    """February: S = (4 acquired − 0 lost in January) + 1 existing (x) = 5, N = 2, lost = 2,
    E = 5 + 2 − 2 = 5.
      retention (E − N)/S = 3/5 = 0.6; churn 2/5 = 0.4; referral 1/2; engagement 4/(5 + 2);
      CAC EUR 300/2 = 150, USD 50/2 = 25;
      CLV EUR: 12 × 95.5 / ((5 + 5)/2) = 229.2 per customer-year; lifetime 1/(12 × 0.4) =
      1/4.8 years; 229.2/4.8 = 47.75; − 150 = −102.25.
      CLV USD: 12 × 10 / 5 = 24; 24/4.8 = 5; − 25 = −20.
    January: S = 1 (x), N = 4, lost = 0, E = 5.
      retention (5 − 4)/1 = 1; churn 0; referral 1/4; engagement 3/(1 + 4) = 0.6;
      CAC EUR 400/4 = 100, USD 0/4 = 0 (USD is seen in February, so both windows show it);
      CLV EUR: 12 × 30 / ((1 + 5)/2) = 120; lifetime 10 (churn 0): 1200 − 100 = 1100.
      CLV USD: 0 × 10 − 0 = 0.
    """

    @pytest.fixture(scope="class")
    def values(self) -> dict:
        c = two_months()
        c.feed()
        return customer_values(c, NOW)

    @staticmethod
    def get(values: dict, name: str, **labels: str) -> float | None:
        return values.get((name, tuple(labels.items())))

    @pytest.mark.parametrize(
        ("name", "labels", "expected"),
        [
            ("cc_window_customers_start", {"window": "month"}, 5),
            ("cc_window_customers_end", {"window": "month"}, 5),
            ("cc_window_customers_acquired", {"window": "month"}, 2),
            ("cc_window_customers_churned", {"window": "month"}, 2),
            ("cc_window_customers_referred", {"window": "month"}, 1),
            ("cc_window_customer_interactions", {"window": "month"}, 4),
            ("cc_customer_retention_ratio", {"window": "month"}, 0.6),
            ("cc_customer_churn_ratio", {"window": "month"}, 0.4),
            ("cc_referral_ratio", {"window": "month"}, 0.5),
            ("cc_customer_interactions_per_customer", {"window": "month"}, 4 / 7),
            ("cc_window_customer_revenue", {"currency": "EUR", "window": "month"}, 95.5),
            ("cc_window_customer_revenue", {"currency": "USD", "window": "month"}, 10),
            ("cc_window_marketing_spend", {"currency": "EUR", "window": "month"}, 300),
            ("cc_window_marketing_spend", {"currency": "USD", "window": "month"}, 50),
            ("cc_customer_acquisition_cost", {"currency": "EUR", "window": "month"}, 150),
            ("cc_customer_acquisition_cost", {"currency": "USD", "window": "month"}, 25),
            ("cc_customer_lifetime_value", {"currency": "EUR", "window": "month"}, -102.25),
            ("cc_customer_lifetime_value", {"currency": "USD", "window": "month"}, -20),
            ("cc_window_customers_start", {"window": "previous_month"}, 1),
            ("cc_window_customers_end", {"window": "previous_month"}, 5),
            ("cc_window_customers_acquired", {"window": "previous_month"}, 4),
            ("cc_window_customers_churned", {"window": "previous_month"}, 0),
            ("cc_customer_retention_ratio", {"window": "previous_month"}, 1.0),
            ("cc_customer_churn_ratio", {"window": "previous_month"}, 0.0),
            ("cc_referral_ratio", {"window": "previous_month"}, 0.25),
            ("cc_customer_interactions_per_customer", {"window": "previous_month"}, 0.6),
            ("cc_window_customer_revenue", {"currency": "EUR", "window": "previous_month"}, 30),
            ("cc_window_customer_revenue", {"currency": "USD", "window": "previous_month"}, 0),
            ("cc_customer_acquisition_cost",
             {"currency": "EUR", "window": "previous_month"}, 100),
            ("cc_customer_acquisition_cost", {"currency": "USD", "window": "previous_month"}, 0),
            ("cc_customer_lifetime_value",
             {"currency": "EUR", "window": "previous_month"}, 1100),
            ("cc_customer_lifetime_value", {"currency": "USD", "window": "previous_month"}, 0),
        ],
        ids=lambda p: p if isinstance(p, str) else None,
    )
    def test_value(self, values: dict, name: str, labels: dict, expected: float) -> None:
        assert self.get(values, name, **labels) == pytest.approx(expected)


class TestCustomerWithoutAcquired:
    def test_first_seen_through_revenue_counts_at_the_start_of_its_month_not_as_acquired(self):
        c = Centre()
        revenue(c, "old", "2027-01-15T10:00:00Z", 25)
        c.feed()
        assert c.value("2027-01-20T00:00:00Z", "cc_window_customers_start", window="month") == 1
        assert c.value("2027-01-20T00:00:00Z", "cc_window_customers_acquired",
                       window="month") == 0
        assert c.value("2027-01-20T00:00:00Z", "cc_window_customers_end", window="month") == 1
        assert c.value("2027-01-20T00:00:00Z", "cc_customer_retention_ratio",
                       window="month") == 1.0
        # and it is still a customer at the start of the next month, counted once
        assert c.value("2027-02-03T00:00:00Z", "cc_window_customers_start", window="month") == 1

    def test_a_churn_without_acquired_is_an_existing_customer_that_leaves(self):
        c = Centre()
        interaction(c, "old", "2027-01-05T10:00:00Z")
        churned(c, "old", "2027-02-10T10:00:00Z")
        c.feed()
        now = "2027-02-20T00:00:00Z"
        assert c.value(now, "cc_window_customers_start", window="previous_month") == 1
        assert c.value(now, "cc_window_customers_start", window="month") == 1
        assert c.value(now, "cc_window_customers_churned", window="month") == 1
        assert c.value(now, "cc_customer_churn_ratio", window="month") == 1.0
        assert c.value(now, "cc_window_customers_end", window="month") == 0

    def test_an_acquired_after_earlier_events_wins_over_existing(self):
        c = Centre()
        interaction(c, "lead", "2027-01-05T10:00:00Z")
        revenue(c, "lead", "2027-01-06T10:00:00Z", 5)
        acquired(c, "lead", "2027-02-10T10:00:00Z")
        c.feed()
        now = "2027-02-20T00:00:00Z"
        assert c.value(now, "cc_window_customers_start", window="previous_month") == 0
        assert c.value(now, "cc_window_customers_start", window="month") == 0
        assert c.value(now, "cc_window_customers_acquired", window="month") == 1
        assert c.value(now, "cc_window_customer_interactions", window="previous_month") == 1


class TestLifecycle:
    def test_a_customer_reacquired_after_churn_is_acquired_again(self):
        c = Centre()
        acquired(c, "a", "2027-01-05T10:00:00Z")
        churned(c, "a", "2027-02-05T10:00:00Z")
        revenue(c, "a", "2027-02-25T10:00:00Z", 9)  # a final invoice: not a return
        acquired(c, "a", "2027-03-05T10:00:00Z")
        c.feed()
        assert c.value("2027-03-10T00:00:00Z", "cc_window_customers_start", window="month") == 0
        assert c.value("2027-03-10T00:00:00Z", "cc_window_customers_acquired",
                       window="month") == 1
        assert c.value("2027-04-10T00:00:00Z", "cc_window_customers_start", window="month") == 1

    def test_duplicate_acquired_events_count_one_customer(self):
        c = Centre()
        acquired(c, "a", "2027-01-05T10:00:00Z", referred_by="z")
        acquired(c, "a", "2027-01-06T10:00:00Z")  # a CRM re-export, another event id
        c.feed()
        assert c.value("2027-01-10T00:00:00Z", "cc_window_customers_acquired",
                       window="month") == 1
        assert c.value("2027-01-10T00:00:00Z", "cc_referral_ratio", window="month") == 1.0

    def test_money_is_summed_exactly_from_the_decimal_text(self):
        c = Centre()
        for amount in (0.1, 0.2, 1, 1e-7):
            revenue(c, "a", "2027-01-05T10:00:00Z", amount)
        c.feed()
        assert c.value("2027-01-10T00:00:00Z", "cc_window_customer_revenue", currency="EUR",
                       window="month") == 1.3  # 1e-7 rounds to 0 micro-units
        assert to_micro(49.9) == 49_900_000


class TestMonths:
    @pytest.mark.parametrize(
        ("timezone", "at", "month"),
        [
            ("UTC", "2026-10-31T23:30:00Z", "2026-10"),
            ("Asia/Tokyo", "2026-10-31T23:30:00Z", "2026-11"),  # 08:30 on 1 November
            ("Asia/Tokyo", "2026-10-31T14:59:59.999999Z", "2026-10"),
            ("Asia/Tokyo", "2026-10-31T15:00:00Z", "2026-11"),
            ("Europe/Lisbon", "2026-03-31T22:59:59Z", "2026-03"),  # summer time: UTC+1
            ("Europe/Lisbon", "2026-03-31T23:00:00Z", "2026-04"),
            ("Europe/Lisbon", "2026-11-30T23:59:59Z", "2026-11"),  # winter time: UTC+0
            ("America/Los_Angeles", "2027-01-01T07:59:59Z", "2026-12"),
            ("Asia/Kathmandu", "2026-12-31T18:15:00Z", "2027-01"),  # UTC+05:45
        ],
        ids=["utc", "tokyo-after", "tokyo-last-us", "tokyo-midnight", "lisbon-dst-before",
             "lisbon-dst-midnight", "lisbon-winter", "los-angeles", "kathmandu"],
    )
    def test_month_label_is_the_local_calendar_month(self, timezone: str, at: str, month: str):
        assert MonthCalendar(timezone).month(parse_us(at)) == month

    @pytest.mark.parametrize(
        ("timezone", "window"),
        [("UTC", "previous_month"), ("Asia/Tokyo", "month")],
        ids=["utc-october", "tokyo-november"],
    )
    def test_an_acquisition_near_midnight_is_booked_in_the_local_month(self, timezone, window):
        c = Centre(customers={"timezone": timezone})
        acquired(c, "a", "2026-10-31T23:30:00Z")
        c.feed()
        assert c.value("2026-11-05T00:00:00Z", "cc_window_customers_acquired",
                       window=window) == 1


class TestZeroDenominators:
    def test_a_month_with_no_customers_at_its_start_exports_parts_but_no_ratio_over_start(self):
        c = Centre()
        acquired(c, "a", "2027-01-05T10:00:00Z")
        acquired(c, "b", "2027-01-06T10:00:00Z", referred_by="a")
        revenue(c, "a", "2027-01-07T10:00:00Z", 10)
        c.feed()
        values = customer_values(c, "2027-01-20T00:00:00Z")
        names = {name for name, _ in values}
        assert c.value("2027-01-20T00:00:00Z", "cc_window_customers_start", window="month") == 0
        for name in ("cc_customer_retention_ratio", "cc_customer_churn_ratio",
                     "cc_customer_lifetime_value"):
            assert name not in names
        assert c.value("2027-01-20T00:00:00Z", "cc_referral_ratio", window="month") == 0.5
        # no spend in EUR while customers were acquired: CAC is 0
        assert c.value("2027-01-20T00:00:00Z", "cc_customer_acquisition_cost", currency="EUR",
                       window="month") == 0
        # December had no customer data at all: no previous_month series
        assert not any(dict(labels).get("window") == "previous_month" for _, labels in values)

    def test_spend_without_acquisitions_exports_spend_but_no_acquisition_cost(self):
        c = Centre()
        spend(c, "2027-01-05T10:00:00Z", 100)
        c.feed()
        now = "2027-01-20T00:00:00Z"
        assert c.value(now, "cc_window_marketing_spend", currency="EUR", window="month") == 100
        assert c.value(now, "cc_window_customers_acquired", window="month") == 0
        assert c.value(now, "cc_customer_acquisition_cost", currency="EUR", window="month") is None
        assert c.value(now, "cc_referral_ratio", window="month") is None
        assert c.value(now, "cc_customer_interactions_per_customer", window="month") is None

    def test_no_customer_events_export_no_customer_series(self):
        c = Centre()
        c.event("ticket.created", "2027-01-05T10:00:00Z", ticket_id="t1", queue="q",
                channel="email")
        c.feed()
        assert customer_values(c, "2027-01-20T00:00:00Z") == {}


class TestEngineInvariants:
    @settings(max_examples=40, deadline=None)
    @given(order=st.permutations(range(len(two_months().events))))
    def test_any_arrival_order_gives_the_same_values(self, order: list[int]):
        assert arrival_order_does_not_matter(order)

    def test_duplicates_change_nothing(self):
        c = fed(two_months())
        expected = customer_values(c, NOW)
        assert {o.value for o in c.feed()} == {"duplicate"}
        assert customer_values(c, NOW) == expected

    def test_a_restart_rebuilds_the_same_values(self):
        c = two_months()
        store = MemoryStore()
        c.engine = Engine(c.config, store)
        c.feed()
        expected = customer_values(c, NOW)
        persisted = orjson.loads(orjson.dumps({k: orjson.loads(encode_record(r))
                                               for k, r in store.data.items()}))
        c.engine = Engine(c.config)
        c.engine.rebuild(persisted.items())
        assert customer_values(c, NOW) == expected
        assert {c.engine.apply(ev).value for ev in c.events} == {"duplicate"}


def fed(c: Centre) -> Centre:
    c.feed()
    return c


EXPECTED = customer_values(fed(two_months()), NOW)


def arrival_order_does_not_matter(order: list[int]) -> bool:
    c = two_months()
    c.events = [c.events[i] for i in order]
    return customer_values(fed(c), NOW) == EXPECTED


class TestRetention:
    def test_a_customer_idle_for_13_months_is_dropped_and_past_counters_stay(self):
        c = Centre()
        acquired(c, "a", "2027-01-10T10:00:00Z")
        revenue(c, "a", "2027-01-11T10:00:00Z", 40)
        c.feed()
        before = customer_values(c, "2027-02-01T00:00:00Z")
        c.feed([c.event("customer.interaction", "2028-03-05T10:00:00Z", customer_id="z",
                        kind="email_open")])
        assert c.engine.prune() == 1  # a's state; z is kept
        assert c.engine.entity_count == 1
        after = customer_values(c, "2027-02-01T00:00:00Z")
        assert after == before  # January 2027 is unchanged
        # 403 days after its last event a lapses: lost in February 2028
        assert c.value("2028-02-20T00:00:00Z", "cc_window_customers_churned",
                       window="month") == 1
        assert c.value("2028-03-10T00:00:00Z", "cc_window_customers_start", window="month") == 1

    @pytest.mark.parametrize("order", ["in-order", "return-first"])
    def test_a_customer_back_after_13_idle_months_counts_once(self, order: str):
        c = Centre()
        acquired(c, "a", "2027-01-10T10:00:00Z")
        interaction(c, "z", "2028-03-05T10:00:00Z")
        revenue(c, "a", "2028-03-10T10:00:00Z", 12)  # a fresh record: existing again
        if order == "return-first":
            c.events.reverse()  # then the acquisition of 2027 is late: it changes nothing
        c.feed()
        assert parse_us("2028-03-10T10:00:00Z") - parse_us("2027-01-10T10:00:00Z") > RETENTION_US
        # a and z, each once
        assert c.value("2028-03-20T00:00:00Z", "cc_window_customers_start", window="month") == 2
        assert c.value("2028-03-20T00:00:00Z", "cc_window_customers_end", window="month") == 2
