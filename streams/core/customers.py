"""Customer-lifecycle gauges (contract §3.4, §4) from the ``cust_*`` counters of the ledgers.

The counters are per calendar month (``[customers] timezone``), and survive the entities that
added them, so the customers at the start of a month are a running sum::

    lost(m)  = churned(m) + lapsed(m)
    S(M)     = Σ_{m < M} (acquired(m) − lost(m)) + Σ_{m ≤ M} existing(m)
    E(M)     = S(M) + acquired(M) − lost(M)

and every KPI of a window is computed from the window month's sums (merged over all ledgers
first, so a ratio is a ratio of sums). ``docs/customers.md`` states each formula and decision.
A pure read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.core.config import Config
from streams.core.entities import customer as C
from streams.core.ledger import Ledger
from streams.core.metrics import Family, new_family

WINDOWS = ("month", "previous_month")
#: Average customer lifetime in years when churn is 0, and its cap (docs/contract.md §3.4).
MAX_LIFETIME_YEARS = 10.0

_MONEY = (C.REVENUE_MICRO, C.SPEND_MICRO)


@dataclass
class Month:
    """One month's summed counters; money per currency in micro-units."""

    counts: dict[str, int] = field(default_factory=dict)
    money: dict[str, dict[str, int]] = field(default_factory=dict)

    def n(self, metric: str) -> int:
        return self.counts.get(metric, 0)

    @property
    def lost(self) -> int:
        return self.n(C.CHURNED) + self.n(C.LAPSED)

    def currencies(self) -> set[str]:
        return {cur for by_cur in self.money.values() for cur in by_cur}


def month_sums(ledgers: Sequence[Ledger]) -> dict[str, Month]:
    """Month label -> its counters summed over ``ledgers``."""
    months: dict[str, Month] = {}
    for ledger in ledgers:
        for (metric, labels), value in ledger.counters.items():
            if not metric.startswith(C.PREFIX):
                continue
            month = months.setdefault(labels[0], Month())
            if metric in _MONEY:
                by_cur = month.money.setdefault(metric, {})
                by_cur[labels[1]] = by_cur.get(labels[1], 0) + value
            else:
                month.counts[metric] = month.counts.get(metric, 0) + value
    return months


def customers_at_start(months: dict[str, Month], label: str) -> int:
    """S of month ``label`` (labels ``YYYY-MM`` sort as their months do)."""
    total = 0
    for m, sums in months.items():
        if m < label:
            total += sums.n(C.ACQUIRED) - sums.lost
        if m <= label:
            total += sums.n(C.EXISTING)
    return total


_NAMES = ("cc_customer_retention_ratio", "cc_customer_churn_ratio",
          "cc_customer_acquisition_cost", "cc_customer_lifetime_value", "cc_referral_ratio",
          "cc_customer_interactions_per_customer", "cc_window_customers_start",
          "cc_window_customers_end", "cc_window_customers_acquired",
          "cc_window_customers_churned", "cc_window_customers_referred",
          "cc_window_customer_interactions", "cc_window_customer_revenue",
          "cc_window_marketing_spend")


def lifetime_years(start: int, lost: int) -> float:
    """Average customer lifetime: 1 / (12 × churn) with churn = lost / start, capped at
    :data:`MAX_LIFETIME_YEARS` (which is also the value when churn is 0); ``start`` > 0."""
    if lost <= 0:
        return MAX_LIFETIME_YEARS
    return min(MAX_LIFETIME_YEARS, start / (12 * lost))


def customer_families(config: Config, ledgers: Sequence[Ledger], now_us: int) -> list[Family]:
    """The customer-lifecycle families for windows ``month`` (the month containing ``now_us``,
    so far) and ``previous_month``. A window is exported when it has customers at its start
    or any customer or marketing counter; then its parts are exported even when 0, and each
    ratio whose denominator is not 0."""
    g = {name: new_family(name) for name in _NAMES}
    months = month_sums(ledgers)
    if not months:
        return list(g.values())
    current = C.month_calendar(config.customers.timezone).month(now_us)
    labels = {"month": current, "previous_month": C.previous_month(current)}
    empty = Month()
    currencies = set().union(*(months.get(m, empty).currencies() for m in labels.values()))
    for window, label in labels.items():
        sums = months.get(label, empty)
        start = customers_at_start(months, label)
        if not start and label not in months:
            continue  # no customer data for this month: no series
        acquired, lost = sums.n(C.ACQUIRED), sums.lost
        end = start + acquired - lost
        interactions = sums.n(C.INTERACTIONS)
        w = (window,)
        for name, value in (("cc_window_customers_start", start),
                            ("cc_window_customers_end", end),
                            ("cc_window_customers_acquired", acquired),
                            ("cc_window_customers_churned", lost),
                            ("cc_window_customers_referred", sums.n(C.REFERRED)),
                            ("cc_window_customer_interactions", interactions)):
            g[name].samples[w] = value
        if start:
            g["cc_customer_retention_ratio"].samples[w] = (end - acquired) / start
            g["cc_customer_churn_ratio"].samples[w] = lost / start
        if acquired:
            g["cc_referral_ratio"].samples[w] = sums.n(C.REFERRED) / acquired
        if start + acquired:
            g["cc_customer_interactions_per_customer"].samples[w] = interactions / (
                start + acquired)
        revenue = sums.money.get(C.REVENUE_MICRO, {})
        spend = sums.money.get(C.SPEND_MICRO, {})
        for cur in sorted(currencies):
            cw = (cur, window)
            rev_units = revenue.get(cur, 0) / C.MICRO
            spend_units = spend.get(cur, 0) / C.MICRO
            g["cc_window_customer_revenue"].samples[cw] = rev_units
            g["cc_window_marketing_spend"].samples[cw] = spend_units
            if acquired:
                cac: float | None = spend_units / acquired
            else:  # no acquisition: CAC is undefined, unless nothing was spent either
                cac = 0.0 if not spend_units else None
            if acquired:
                g["cc_customer_acquisition_cost"].samples[cw] = cac
            if start and cac is not None:  # start > 0 makes churn and (S + E) / 2 defined
                per_customer_year = 12 * rev_units / ((start + end) / 2)
                g["cc_customer_lifetime_value"].samples[cw] = (
                    per_customer_year * lifetime_years(start, lost) - cac)
    return list(g.values())
