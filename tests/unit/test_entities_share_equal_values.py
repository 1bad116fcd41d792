"""Customers and tickets hold the values they have alike once (streams.core.entities.shared):
a month's count of interactions, a plan's price, a ticket's "created" in its queue. Sharing
changes no value: the KPIs with and without it are compared by the customer-compaction and
engine-invariant tests; these pin that equal values are one object, of the right type, and
that a bounded store of them stays bounded."""

from __future__ import annotations

from streams.core.config import parse_config
from streams.core.contributions import Count
from streams.core.engine import Engine
from streams.core.entities import shared as S
from streams.core.entities.customer import REVENUE_MICRO
from streams.core.entities.ticket import CREATED
from streams.core.events import Event
from streams.core.timestamps import DAY_US, parse_us

START_US = parse_us("2027-01-05T10:00:00Z")


def _event(eid: str, type_: str, at_us: int, **body) -> Event:
    return Event(eid, type_, at_us, {"event_id": eid, "type": type_, **body})


def test_two_customers_with_the_same_month_hold_one_count_object():
    engine = Engine(parse_config({}))
    for customer in ("a", "b"):
        for n in range(7):  # past FOLD_AFTER: folded into the month's sums
            engine.apply(_event(f"{customer}{n}", "customer.revenue", START_US + n * DAY_US,
                                customer_id=customer, amount=49.9, currency="EUR"))
    a = engine._contributions["customer:a"]
    b = engine._contributions["customer:b"]
    assert a == b
    assert all(x is y for x, y in zip(a, b, strict=True))
    revenue = next(c for c in a if c.metric == REVENUE_MICRO)
    assert revenue.amount == 7 * 49_900_000


def test_two_tickets_created_in_one_queue_hold_one_count_object():
    engine = Engine(parse_config({}))
    for ticket in ("t1", "t2"):
        engine.apply(_event(f"{ticket}-c", "ticket.created", START_US, ticket_id=ticket,
                            queue="billing", channel="email", priority="normal",
                            category="invoice"))
    created = [next(c for c in engine._contributions[f"ticket:{t}"]
                    if isinstance(c, Count) and c.metric == CREATED) for t in ("t1", "t2")]
    assert created[0] is created[1]


def test_a_shared_value_keeps_its_type():
    one = S.shared(1)
    assert S.shared(True) is True
    assert S.shared(1.0).__class__ is float
    assert S.shared(1) is one
    plain = S.shared(("m", ("x",), 1))
    assert S.shared(Count("m", ("x",), 1)).__class__ is Count
    assert plain.__class__ is tuple


def test_the_store_of_shared_values_is_emptied_when_full(monkeypatch):
    monkeypatch.setattr(S, "MAX_HELD", 10)
    monkeypatch.setattr(S, "_HELD", {})
    for n in range(1000, 1025):
        assert S.shared(n) == n
    assert len(S._HELD) <= 10


def test_two_customers_with_the_same_amount_hold_one_int_object():
    # an amount as it arrives, and as a month's sum once folded: one object for both
    # customers, also where the customer kind runs compiled (streams.compiled), whose ints
    # would otherwise be unboxed and boxed again
    engine = Engine(parse_config({}))
    for customer in ("a", "b"):
        engine.apply(_event(f"{customer}-1", "customer.revenue", START_US,
                            customer_id=customer, amount=1234.56, currency="EUR"))
    first = [engine._records[f"customer:{c}"]["ev"][0].amount_micro for c in ("a", "b")]
    assert first[0] == 1_234_560_000 and first[0] is first[1]
    for customer in ("a", "b"):
        for n in range(2, 9):  # past FOLD_AFTER: folded into the month's sums
            engine.apply(_event(f"{customer}-{n}", "customer.revenue", START_US + n * DAY_US,
                                customer_id=customer, amount=1234.56, currency="EUR"))
    sums = [engine._records[f"customer:{c}"]["fs"] for c in ("a", "b")]
    assert sums[0] and sums[0] == sums[1]
    for key, value in sums[0].items():
        assert value is sums[1][key], key
