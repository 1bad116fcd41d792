"""The customer base and its life-cycle events (contract §1.6): the callers and ticket writers.

``population`` customers exist before the run (``cust-000001`` …, the same in every run, like
a real CRM); customers acquired during the run get run-tagged ids (``cust-3fa2c1-00001``) and
join the base at once, so their contacts, tickets, invoices and interactions follow. A churned
customer leaves the base: nothing names them afterwards.

Volumes are monthly shares of the base, as planners state them: ``acquired_per_month`` and
``churned_per_month`` (a few per cent), one invoice per active customer a month (a billing run
that cycles through the base), daily spend per marketing campaign. A customer's plan and
billing currency are a fixed function of their number, so their invoices agree month to month.
"""

from __future__ import annotations

import itertools

from streams.simulate.model import SECONDS_PER_DAY, CustomerActivity
from streams.simulate.world import World

DAYS_PER_MONTH = 30.4
#: Monthly plan prices and how many customers are on each.
PLANS = ((9.99, 35), (24.99, 35), (49.0, 20), (129.0, 8), (349.0, 2))
_PLAN_BY_BUCKET = [price for price, share in PLANS for _ in range(share)]
#: Share of invoices with a usage charge on top of the plan.
USAGE_SHARE = 0.3
INTERACTION_KINDS = {"web_visit": 0.55, "email_open": 0.33, "social": 0.12}
ACQUISITION_CHANNELS = {"search": 0.35, "social": 0.2, "display": 0.1, "affiliate": 0.1,
                        "organic": 0.15, "partner": 0.1}
#: Share of new customers whose sign-up carries no acquisition channel at all.
NO_CHANNEL_SHARE = 0.08
CHURN_REASONS = {"price": 0.35, "service": 0.25, "competitor": 0.2, "moved": 0.1,
                 "other": 0.1}
#: Marketing connectors sync the previous day's spend of every campaign at this UTC hour.
SPEND_SYNC_HOUR = 1.0
_KNUTH = 2_654_435_761
"""Multiplicative hash: spreads consecutive customer numbers over plans and currencies."""


class CustomerBase:
    """The active customers, drawn uniformly for contacts, tickets and interactions."""

    def __init__(self, world: World, activity: CustomerActivity) -> None:
        self._world = world
        self.activity = activity
        self._active = list(range(1, activity.population + 1))
        self._acquired = itertools.count(1)
        self._invoice_cursor = 0
        #: The daily spend sync runs at a fixed hour: its draws do not touch the model's.
        self._spend_rng = world.own_rng("marketing-spend")

    def __len__(self) -> int:
        return len(self._active)

    def pick(self) -> str:
        """An active customer's id (one draw of the model's generator; ``random()`` is a
        single C call, ``randrange`` several Python ones)."""
        active = self._active
        return self.id_of(active[int(self._world.rng.random() * len(active))])

    def id_of(self, number: int) -> str:
        population = self.activity.population
        if number <= population:
            return f"cust-{number:06d}"
        return f"cust-{self._world.stamper.run_tag}-{number - population:05d}"

    def start(self) -> None:
        """Open acquisition, churn, billing, interactions and marketing spend."""
        world, activity = self._world, self.activity
        per_month_to_hour = activity.population / (DAYS_PER_MONTH * 24.0)
        profile_mean = world.profile.mean or 1.0
        world.poisson(activity.interactions_per_hour, self._interact)
        # Sign-ups and cancellations follow the day's traffic; their monthly share holds.
        world.poisson(activity.acquired_per_month * per_month_to_hour / profile_mean,
                      self._acquire)
        world.poisson(activity.churned_per_month * per_month_to_hour / profile_mean,
                      self._churn)
        world.poisson(per_month_to_hour, self._invoice, follow_profile=False)
        if activity.campaign_daily_budgets:
            sync_s = SPEND_SYNC_HOUR * 3600.0
            into_day = world.second_of_day()
            if into_day > sync_s:    # started after today's sync: the connector syncs at once
                world.after(self._spend_rng.uniform(5.0, 60.0), self._book_spend)
            world.after((sync_s - into_day) % SECONDS_PER_DAY or SECONDS_PER_DAY,
                        self._daily_spend)

    # -- events -------------------------------------------------------------------------------

    def _interact(self) -> None:
        world = self._world
        world.emit("customer.interaction", {"customer_id": self.pick(),
                                            "kind": world.pick(INTERACTION_KINDS)})

    def _acquire(self) -> None:
        world, activity = self._world, self.activity
        number = activity.population + next(self._acquired)
        fields: dict[str, object] = {"customer_id": self.id_of(number)}
        if world.chance(activity.referred_share):
            fields["referred_by"] = self.pick()
            fields["acquisition_channel"] = "referral"
        elif not world.chance(NO_CHANNEL_SHARE):
            fields["acquisition_channel"] = world.pick(ACQUISITION_CHANNELS)
        world.emit("customer.acquired", fields)
        self._active.append(number)
        world.after(world.rng.uniform(30.0, 600.0), self._bill, number)  # first invoice

    def _churn(self) -> None:
        world, active = self._world, self._active
        if len(active) <= 1:
            return
        index = world.rng.randrange(len(active))
        number = active[index]
        active[index] = active[-1]    # swap-remove: O(1), and order is deterministic
        active.pop()
        world.emit("customer.churned", {"customer_id": self.id_of(number),
                                        "reason": world.pick(CHURN_REASONS)})

    def _invoice(self) -> None:
        """The billing run: the next customer of a cycle through the base, once a month each."""
        active = self._active
        self._invoice_cursor = (self._invoice_cursor + 1) % len(active)
        self._bill(active[self._invoice_cursor])

    def _bill(self, number: int) -> None:
        world, activity = self._world, self.activity
        spread = (number * _KNUTH) & 0xFFFF_FFFF
        amount = _PLAN_BY_BUCKET[spread % 100]
        if world.chance(USAGE_SHARE):
            amount += world.lognormal(12.0, 1.2)
        currency = "USD" if (spread >> 8) % 1000 < activity.usd_share * 1000 else \
            activity.currency
        world.emit("customer.revenue", {"customer_id": self.id_of(number),
                                        "amount": round(amount, 2), "currency": currency})

    def _daily_spend(self) -> None:
        self._book_spend()
        self._world.after(SECONDS_PER_DAY, self._daily_spend)

    def _book_spend(self) -> None:
        """One ``marketing.spend`` per campaign: the previous day's spend, around its budget."""
        world = self._world
        for campaign, budget in self.activity.campaign_daily_budgets.items():
            world.emit("marketing.spend", {
                "amount": round(budget * self._spend_rng.uniform(0.85, 1.1), 2),
                "currency": self.activity.currency, "campaign": campaign})
