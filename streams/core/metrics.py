"""The metric value type and the catalogue of every family ccpulse exports (docs/contract.md §4).

One place names every family: its type, help text and labels. The KPI layer builds its
:class:`Family` values from here (:func:`new_family`), the exporter and the wallboard read
them, and ``docs/metrics.md`` is generated from :data:`CATALOGUE` (``python -m
streams.docgen``), so the documentation cannot drift from what ``/metrics`` serves.

:data:`RATIO_PARTS` names, for every windowed ratio or average, the windowed gauges of its
numerator and denominator: a ratio cannot be summed over workers, its parts can, so the
shipped recording rules compute fleet-wide values as ``sum(numerator) / sum(denominator)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class FamilySpec(NamedTuple):
    """What a family is: ``kind`` is ``counter``, ``gauge`` or ``histogram``."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    group: str


@dataclass
class Family:
    """One metric family with its samples. ``samples`` maps label values to a value; for a
    histogram the value is ``(bounds, counts, sum)`` with non-cumulative counts (the last
    count is the +Inf bucket) and bounds and sum in seconds."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    samples: dict[tuple[str, ...], Any] = field(default_factory=dict)
    #: What wrote ``samples``, when a builder keeps them across scrapes: every key it set or
    #: removed is in the journal at the epoch of that update, and ``samples`` are as of the
    #: end of epoch ``epoch`` — so the exposition rewrites only the keys written since it last
    #: wrote this family (``streams.exporter``). Whoever changes ``samples`` otherwise must set
    #: ``journal`` to None (:meth:`add` does).
    journal: Journal | None = field(default=None, compare=False, repr=False)
    epoch: int = field(default=0, compare=False, repr=False)

    def add(self, labels: tuple[str, ...], value: int | float) -> None:
        self.journal = None
        self.samples[labels] = self.samples.get(labels, 0) + value

    def copy(self) -> Family:
        """A family of its own with the same samples (the values shared) and journal."""
        return Family(self.name, self.kind, self.help, self.labels, dict(self.samples),
                      self.journal, self.epoch)


class Journal:
    """The keys a builder wrote (set, changed or removed) in the samples of the families it
    keeps across scrapes, update by update: after each update, :meth:`close` with the keys
    written (a superset will do) starts a new epoch. :meth:`since` tells a reader that saw
    the samples as of one epoch which keys may differ now, without comparing every sample.

    One journal may serve several families written together (keys of another family's
    shape are simply absent from the samples). The last :data:`KEPT` updates are kept
    apart; older ones are merged into one set of keys (bounded by the keys the families
    ever have), so a reader far behind gets a superset of what changed for it."""

    #: Updates kept apart: a render follows a few (the worker's warm-up, wallboard reads
    #: between scrapes).
    KEPT = 16
    __slots__ = ("_written", "epoch")

    def __init__(self) -> None:
        self.epoch = 0
        #: (first epoch, last epoch, keys written in those updates), oldest first; only the
        #: first entry spans several updates (its keys a dict of this journal's own)
        self._written: deque[tuple[int, int, Collection[Any]]] = deque()

    def close(self, written: Collection[Any]) -> int:
        """End the current update, whose writes were to the keys ``written``; the new epoch."""
        self.epoch += 1
        if written:
            entries = self._written
            entries.append((self.epoch, self.epoch, written))
            if len(entries) > self.KEPT + 1:  # the merged entry and KEPT apart
                first, ended, keys = entries.popleft()
                _, last, more = entries.popleft()
                # an entry of several updates holds a dict of ours; a builder's keys are copied
                merged: Any = keys if first < ended else dict.fromkeys(keys)
                merged.update(dict.fromkeys(more))
                entries.appendleft((first, last, merged))
        return self.epoch

    def since(self, epoch: int, until: int) -> list[Collection[Any]] | None:
        """The key collections written in the updates after ``epoch`` up to ``until``
        (inclusive), maybe with more keys (merged updates); None when ``until`` is not an
        epoch yet or is before ``epoch``."""
        if not epoch <= until <= self.epoch:
            return None
        found = []
        for first, last, written in reversed(self._written):
            if last <= epoch:
                break
            if first <= until:
                found.append(written)
        return found


QC = ("queue", "channel")
QCW = ("queue", "channel", "window")
QW = ("queue", "window")

_C, _G, _H = "counter", "gauge", "histogram"
_COUNTERS, _HISTOGRAMS, _LIVE = "Counters", "Histograms", "Live gauges"
_WINDOW, _PARTS, _PIPE = "Windowed KPIs", "Windowed parts of ratios", "Pipeline health"
_CUSTOMERS = "Customer lifecycle (months)"
_PER_AGENT = "Per agent (opt-in: [limits] per_agent)"
AW = ("agent", "window")

CATALOGUE: tuple[FamilySpec, ...] = (
    # --- counters since the start of the stream
    FamilySpec("cc_contacts_offered_total", _C,
               "Contact segments that started waiting in a queue.", QC, _COUNTERS),
    FamilySpec("cc_contacts_answered_total", _C, "Segments answered by an agent.", QC, _COUNTERS),
    FamilySpec("cc_contacts_abandoned_total", _C,
               "Segments abandoned by the customer while waiting (short abandons excluded).",
               QC, _COUNTERS),
    FamilySpec("cc_contacts_short_abandoned_total", _C,
               "Abandons with a wait below the policy's short_abandon_seconds.", QC, _COUNTERS),
    FamilySpec("cc_contacts_flowed_out_total", _C,
               "Segments that left the queue unanswered by routing.",
               ("queue", "channel", "reason"), _COUNTERS),
    FamilySpec("cc_contacts_answered_within_threshold_total", _C,
               "Segments answered within the service-level threshold.", QC, _COUNTERS),
    FamilySpec("cc_contacts_handled_total", _C, "Contacts handled (after-contact work over).",
               QC, _COUNTERS),
    FamilySpec("cc_calls_blocked_total", _C, "Calls that could not be served at all.",
               ("queue", "reason"), _COUNTERS),
    FamilySpec("cc_contacts_resolved_first_contact_total", _C,
               "Handled contacts resolved at first contact (resolved=true on the last wrap-up, "
               "no transfer); over cc_contacts_handled_total, the FCR of any period.", QC,
               _COUNTERS),
    FamilySpec("cc_chat_responses_total", _C,
               "Chat agent messages that answered waiting customer messages.", QC, _COUNTERS),
    FamilySpec("cc_chat_response_seconds_total", _C,
               "Sum of the chat response times (agent message - the oldest unanswered customer "
               "message); over cc_chat_responses_total, the average.", QC, _COUNTERS),
    FamilySpec("cc_contacts_stale_total", _C,
               "Waiting segments dropped from the live gauges as stale (no outcome within "
               "stale_after_seconds of queueing).", QC, _COUNTERS),
    FamilySpec("cc_tickets_created_total", _C, "Tickets created.",
               ("queue", "channel", "category"), _COUNTERS),
    FamilySpec("cc_tickets_solved_total", _C,
               "Tickets solved for the first time (first change to solved or closed).", QC,
               _COUNTERS),
    FamilySpec("cc_tickets_reopened_total", _C,
               "Reopens: a status change from solved/closed back to open, pending or on hold.",
               QC, _COUNTERS),
    FamilySpec("cc_tickets_resolved_first_contact_total", _C,
               "First solves with exactly one public agent reply and at most one agent before "
               "them; over cc_tickets_solved_total, the ticket FCR of any period.", QC,
               _COUNTERS),
    FamilySpec("cc_ticket_replies_before_solve_total", _C,
               "Public agent replies before the first solve, counted at the first solve; over "
               "cc_tickets_solved_total, the replies per ticket.", QC, _COUNTERS),
    FamilySpec("cc_ticket_responses_total", _C,
               "Public agent replies that answered waiting customer messages.", QC, _COUNTERS),
    FamilySpec("cc_ticket_response_seconds_total", _C,
               "Sum of the ticket response times (reply - the oldest unanswered customer "
               "message); over cc_ticket_responses_total, the average.", QC, _COUNTERS),
    FamilySpec("cc_survey_responses_total", _C, "Survey responses by survey and score.",
               ("survey", "queue", "channel", "score"), _COUNTERS),
    FamilySpec("cc_qa_reviews_total", _C, "QA reviews.", QC, _COUNTERS),
    FamilySpec("cc_qa_review_score_total", _C,
               "Sum of the QA review scores, each 0-1; over cc_qa_reviews_total, the IQS.", QC,
               _COUNTERS),
    # --- histograms
    FamilySpec("cc_contact_wait_seconds", _H,
               "Wait of answered and abandoned segments (short abandons included).",
               ("queue", "channel", "outcome"), _HISTOGRAMS),
    FamilySpec("cc_contact_handle_seconds", _H,
               "Handle time (talk + hold + after-contact work).", QC, _HISTOGRAMS),
    FamilySpec("cc_ticket_first_response_seconds", _H,
               "Ticket created -> first public agent reply.", QC, _HISTOGRAMS),
    FamilySpec("cc_ticket_resolution_seconds", _H, "Ticket created -> first solve.", QC,
               _HISTOGRAMS),
    FamilySpec("cc_ticket_first_response_business_seconds", _H,
               "First response time counted in the queue's business hours only.", QC,
               _HISTOGRAMS),
    FamilySpec("cc_ticket_resolution_business_seconds", _H,
               "Resolution time counted in the queue's business hours only.", QC, _HISTOGRAMS),
    # --- live gauges
    FamilySpec("cc_queue_contacts_waiting", _G,
               "Segments waiting in the queue now (stale ones excluded).", QC, _LIVE),
    FamilySpec("cc_queue_oldest_wait_seconds", _G,
               "How long the oldest waiting segment has waited (0 when none).", QC, _LIVE),
    FamilySpec("cc_agents", _G, "Agents by their current state, per queue they serve.",
               ("queue", "state"), _LIVE),
    FamilySpec("cc_tickets_open", _G, "Tickets open now (pending and on hold included).",
               ("queue", "channel", "priority"), _LIVE),
    FamilySpec("cc_tickets_awaiting_reply", _G,
               "Open tickets whose last public message is the customer's.", QC, _LIVE),
    FamilySpec("cc_tickets_backlog", _G,
               "Open tickets created more than backlog_age_seconds ago.", QC, _LIVE),
    FamilySpec("cc_tickets_first_response_overdue", _G,
               "Open tickets without a first public agent reply past their first-response "
               "target now.", ("queue", "channel", "priority"), _LIVE),
    FamilySpec("cc_erlang_required_agents", _G,
               "Erlang C agents needed to meet the SL target at the trailing-30-minute arrival "
               "rate and AHT.", QC, _LIVE),
    FamilySpec("cc_erlang_predicted_service_level_ratio", _G,
               "Erlang C service level predicted with the agents staffed now.", QC, _LIVE),
    FamilySpec("cc_erlang_arrival_rate_per_second", _G,
               "Segments offered in the trailing 30 minutes / 1800 s (the Erlang arrival rate).",
               QC, _LIVE),
    FamilySpec("cc_erlang_average_handle_time_seconds", _G,
               "AHT of the trailing 30 minutes (else today's) used by the Erlang models.", QC,
               _LIVE),
    FamilySpec("cc_erlang_a_patience_seconds", _G,
               "Mean patience estimated from the trailing 30 minutes: waiting time / abandons "
               "(short ones included). Absent without abandons.", QC, _LIVE),
    FamilySpec("cc_erlang_a_required_agents", _G,
               "Erlang A agents needed to meet the SL target (abandons count against) with the "
               "estimated patience.", QC, _LIVE),
    FamilySpec("cc_erlang_a_predicted_service_level_ratio", _G,
               "Erlang A service level (answered in threshold / offered) predicted with the "
               "agents staffed now.", QC, _LIVE),
    FamilySpec("cc_erlang_a_predicted_abandon_ratio", _G,
               "Erlang A share of contacts predicted to abandon with the agents staffed now.",
               QC, _LIVE),
    FamilySpec("cc_erlang_a_predicted_wait_probability_ratio", _G,
               "Erlang A probability of waiting at all, predicted with the agents staffed now.",
               QC, _LIVE),
    FamilySpec("cc_erlang_b_trunks", _G, "Voice trunks of the queue (the trunks setting).",
               ("queue",), _LIVE),
    FamilySpec("cc_erlang_b_predicted_blocking_ratio", _G,
               "Erlang B blocking predicted at the trailing-30-minute trunk load ((offered + "
               "blocked voice) / 1800 s × AHT).", ("queue",), _LIVE),
    # --- windowed KPIs (per worker; fleet-wide values come from the recording rules)
    FamilySpec("cc_window_contacts_offered", _G,
               "Segments that started waiting in the window.", QCW, _WINDOW),
    FamilySpec("cc_window_contacts_answered", _G, "Segments answered in the window.", QCW,
               _WINDOW),
    FamilySpec("cc_window_contacts_abandoned", _G,
               "Segments abandoned (not short) in the window.", QCW, _WINDOW),
    FamilySpec("cc_window_contacts_handled", _G, "Contacts handled in the window.", QCW,
               _WINDOW),
    FamilySpec("cc_window_calls_blocked", _G, "Calls blocked in the window.", QW, _WINDOW),
    FamilySpec("cc_window_requests", _G,
               "Requests by channel: offered contacts, blocked calls, new tickets.",
               ("channel", "window"), _WINDOW),
    FamilySpec("cc_service_level_ratio", _G,
               "Service level of the window per the queue's policy (docs/configuration.md).",
               QCW, _WINDOW),
    FamilySpec("cc_service_level_target_ratio", _G,
               "The service-level target of the queue and channel.", QCW, _WINDOW),
    FamilySpec("cc_average_speed_of_answer_seconds", _G, "Average wait of answered segments.",
               QCW, _WINDOW),
    FamilySpec("cc_abandon_ratio", _G,
               "Abandoned (not short) / (answered + abandoned + flowed out).", QCW, _WINDOW),
    FamilySpec("cc_blocking_ratio", _G, "Blocked / (blocked + offered voice).", QW, _WINDOW),
    FamilySpec("cc_average_handle_time_seconds", _G,
               "Average handle time of contacts handled in the window.", QCW, _WINDOW),
    FamilySpec("cc_first_contact_resolution_ratio", _G,
               "Handled contacts resolved without transfer / handled.", QCW, _WINDOW),
    FamilySpec("cc_chat_response_average_seconds", _G,
               "Average agent response time to waiting chat customers.", QW, _WINDOW),
    FamilySpec("cc_occupancy_ratio", _G,
               "Time on contact + after-contact work / time available + on contact + ACW.",
               QW, _WINDOW),
    FamilySpec("cc_window_tickets_created", _G, "Tickets created in the window.",
               ("queue", "channel", "category", "window"), _WINDOW),
    FamilySpec("cc_window_tickets_solved", _G, "First solves in the window.", QCW, _WINDOW),
    FamilySpec("cc_window_tickets_reopened", _G, "Reopens in the window.", QCW, _WINDOW),
    FamilySpec("cc_ticket_first_response_average_seconds", _G,
               "Average first response time of first replies in the window.", QCW, _WINDOW),
    FamilySpec("cc_ticket_response_average_seconds", _G,
               "Average time from the oldest unanswered customer message to the agent's public "
               "reply.", QCW, _WINDOW),
    FamilySpec("cc_ticket_resolution_average_seconds", _G,
               "Average resolution time of first solves in the window.", QCW, _WINDOW),
    FamilySpec("cc_ticket_first_response_business_average_seconds", _G,
               "Average first response time in business hours.", QCW, _WINDOW),
    FamilySpec("cc_ticket_resolution_business_average_seconds", _G,
               "Average resolution time in business hours.", QCW, _WINDOW),
    FamilySpec("cc_ticket_first_response_within_target_ratio", _G,
               "First responses in the window that met their priority's target / first "
               "responses with a target.", QCW, _WINDOW),
    FamilySpec("cc_ticket_resolution_ratio", _G,
               "Of the tickets created in the window, the share solved since (rises as they "
               "get solved).", QCW, _WINDOW),
    FamilySpec("cc_ticket_first_contact_resolution_ratio", _G,
               "First solves with exactly one public agent reply and at most one agent / first "
               "solves.", QCW, _WINDOW),
    FamilySpec("cc_replies_per_ticket", _G,
               "Public agent replies before the first solve / first solves.", QCW, _WINDOW),
    FamilySpec("cc_nps_score", _G, "Net Promoter Score, -100..100.", QW, _WINDOW),
    FamilySpec("cc_csat_ratio", _G, "CSAT responses scoring scale_max - 1 or more / responses.",
               QCW, _WINDOW),
    FamilySpec("cc_ces_ratio", _G, "CES responses scoring scale_max - 1 or more / responses.",
               QCW, _WINDOW),
    FamilySpec("cc_ces_average_score", _G, "Mean CES score.", QCW, _WINDOW),
    FamilySpec("cc_iqs_ratio", _G, "Internal quality score: mean QA review score, 0-1.", QCW,
               _WINDOW),
    # --- numerators and denominators of the windowed ratios (sum them over workers)
    FamilySpec("cc_window_contacts_answered_within_threshold", _G,
               "Segments answered within the service-level threshold (A≤T).", QCW, _PARTS),
    FamilySpec("cc_window_contacts_flowed_out", _G, "Segments flowed out in the window.", QCW,
               _PARTS),
    FamilySpec("cc_window_contacts_short_abandoned", _G,
               "Short abandons in the window (left out of every ratio).", QCW, _PARTS),
    FamilySpec("cc_window_contacts_service_level_met", _G,
               "Service-level numerator under the queue's policy: A≤T (+ B≤T when abandons "
               "are positive, + F≤T of each flow-out reason that is positive).", QCW, _PARTS),
    FamilySpec("cc_window_contacts_service_level_counted", _G,
               "Service-level denominator under the queue's policy: A (+ B unless abandons are "
               "ignored) (+ F of each flow-out reason that is not ignored).", QCW, _PARTS),
    FamilySpec("cc_window_contact_wait_seconds_sum", _G,
               "Sum of the waits of segments answered in the window (ASA numerator).", QCW,
               _PARTS),
    FamilySpec("cc_window_contacts_left_queue", _G,
               "Answered + abandoned (not short) + flowed out (abandon-ratio denominator).",
               QCW, _PARTS),
    FamilySpec("cc_window_contact_handle_seconds_sum", _G,
               "Sum of the handle times of contacts handled in the window (AHT numerator).",
               QCW, _PARTS),
    FamilySpec("cc_window_contacts_resolved_first_contact", _G,
               "Handled contacts resolved without transfer (FCR numerator).", QCW, _PARTS),
    FamilySpec("cc_window_calls_attempted", _G,
               "Blocked + offered voice calls (blocking-ratio denominator).", QW, _PARTS),
    FamilySpec("cc_window_chat_response_seconds_sum", _G,
               "Sum of agent response times to waiting chat customers.", QW, _PARTS),
    FamilySpec("cc_window_chat_responses", _G,
               "Agent responses to waiting chat customers.", QW, _PARTS),
    FamilySpec("cc_window_agent_busy_seconds", _G,
               "Agent time on contact + after-contact work (occupancy numerator).", QW, _PARTS),
    FamilySpec("cc_window_agent_staffed_seconds", _G,
               "Agent time available + on contact + after-contact work (occupancy "
               "denominator).", QW, _PARTS),
    FamilySpec("cc_window_ticket_first_responses", _G,
               "First public agent replies in the window (FRT denominator).", QCW, _PARTS),
    FamilySpec("cc_window_ticket_first_response_seconds", _G,
               "Sum of first response times (FRT numerator).", QCW, _PARTS),
    FamilySpec("cc_window_ticket_first_response_business_seconds", _G,
               "Sum of first response times in business hours.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_first_responses_within_target", _G,
               "First responses that met their target.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_first_responses_with_target", _G,
               "First responses whose priority has a target.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_responses", _G,
               "Public agent replies that answered waiting customer messages.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_response_seconds", _G,
               "Sum of their response times.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_resolution_seconds", _G,
               "Sum of resolution times of first solves.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_resolution_business_seconds", _G,
               "Sum of resolution times of first solves in business hours.", QCW, _PARTS),
    FamilySpec("cc_window_tickets_created_and_solved", _G,
               "Tickets created in the window that have been solved since.", QCW, _PARTS),
    FamilySpec("cc_window_tickets_created_all", _G,
               "Tickets created in the window, all categories (resolution-ratio "
               "denominator).", QCW, _PARTS),
    FamilySpec("cc_window_tickets_resolved_first_contact", _G,
               "First solves with one public agent reply and at most one agent.", QCW, _PARTS),
    FamilySpec("cc_window_ticket_replies_before_solve", _G,
               "Public agent replies before the first solve, of the window's first solves.",
               QCW, _PARTS),
    FamilySpec("cc_window_nps_responses", _G, "NPS responses.", QW, _PARTS),
    FamilySpec("cc_window_nps_promoters", _G, "NPS responses scoring 9-10.", QW, _PARTS),
    FamilySpec("cc_window_nps_detractors", _G, "NPS responses scoring 0-6.", QW, _PARTS),
    FamilySpec("cc_window_csat_responses", _G, "CSAT responses.", QCW, _PARTS),
    FamilySpec("cc_window_csat_satisfied", _G, "CSAT responses scoring scale_max - 1 or more.",
               QCW, _PARTS),
    FamilySpec("cc_window_ces_responses", _G, "CES responses.", QCW, _PARTS),
    FamilySpec("cc_window_ces_easy", _G, "CES responses scoring scale_max - 1 or more.", QCW,
               _PARTS),
    FamilySpec("cc_window_ces_score", _G, "Sum of CES scores.", QCW, _PARTS),
    FamilySpec("cc_window_qa_reviews", _G, "QA reviews in the window.", QCW, _PARTS),
    FamilySpec("cc_window_iqs_score", _G, "Sum of review scores, each 0-1 (IQS numerator).", QCW,
               _PARTS),
    # --- per agent, only with [limits] per_agent (docs/security.md "Personal data"); window
    # "today" of the [defaults] calendar; agents past max_agents are summed under agent="other"
    FamilySpec("cc_per_agent_average_handle_time_seconds", _G,
               "Average handle time of the contacts the agent wrapped up last.", AW, _PER_AGENT),
    FamilySpec("cc_per_agent_first_contact_resolution_ratio", _G,
               "The agent's handled contacts resolved without transfer / handled.", AW,
               _PER_AGENT),
    FamilySpec("cc_per_agent_occupancy_ratio", _G,
               "The agent's time on contact + after-contact work / available + on contact + "
               "ACW.", AW, _PER_AGENT),
    FamilySpec("cc_window_per_agent_contacts_handled", _G,
               "Contacts whose last wrap-up the agent ended (AHT and FCR denominator).", AW,
               _PER_AGENT),
    FamilySpec("cc_window_per_agent_handle_seconds", _G,
               "Sum of the handle times of those contacts (AHT numerator).", AW, _PER_AGENT),
    FamilySpec("cc_window_per_agent_contacts_resolved_first_contact", _G,
               "Those contacts resolved without transfer (FCR numerator).", AW, _PER_AGENT),
    FamilySpec("cc_window_per_agent_busy_seconds", _G,
               "The agent's time on contact + after-contact work (occupancy numerator).", AW,
               _PER_AGENT),
    FamilySpec("cc_window_per_agent_staffed_seconds", _G,
               "The agent's time available + on contact + after-contact work (occupancy "
               "denominator).", AW, _PER_AGENT),
    FamilySpec("cc_window_per_agent_state_seconds", _G,
               "The agent's time in each state but offline (available, on_contact, "
               "after_contact_work, not_ready).", ("agent", "state", "window"), _PER_AGENT),
    # --- customer lifecycle (calendar months in [customers] timezone)
    FamilySpec("cc_customer_retention_ratio", _G,
               "(customers at the end - acquired) / customers at the start of the month.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_customer_churn_ratio", _G, "Churned / customers at the start of the month.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_customer_acquisition_cost", _G, "Marketing spend / customers acquired.",
               ("currency", "window"), _CUSTOMERS),
    FamilySpec("cc_customer_lifetime_value", _G,
               "Revenue per customer per year x average lifetime in years - CAC.",
               ("currency", "window"), _CUSTOMERS),
    FamilySpec("cc_referral_ratio", _G, "Acquired with referred_by / acquired.", ("window",),
               _CUSTOMERS),
    FamilySpec("cc_customer_interactions_per_customer", _G,
               "Interactions / active customers (at the start + acquired).", ("window",),
               _CUSTOMERS),
    FamilySpec("cc_window_customers_start", _G, "Customers at the start of the month.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_window_customers_end", _G,
               "Customers at the end of the month (so far): start + acquired - churned.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_window_customers_acquired", _G, "Customers acquired in the month.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_window_customers_churned", _G, "Customers churned in the month.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_window_customers_referred", _G,
               "Customers acquired in the month with referred_by.", ("window",), _CUSTOMERS),
    FamilySpec("cc_window_customer_interactions", _G, "Customer interactions in the month.",
               ("window",), _CUSTOMERS),
    FamilySpec("cc_window_customer_revenue", _G, "Revenue in the month.",
               ("currency", "window"), _CUSTOMERS),
    FamilySpec("cc_window_marketing_spend", _G, "Marketing spend in the month.",
               ("currency", "window"), _CUSTOMERS),
    # --- pipeline health (per process; not part of the replay = worker equality)
    FamilySpec("cc_events_total", _C, "Valid events processed.", ("topic", "type"), _PIPE),
    FamilySpec("cc_events_invalid_total", _C, "Invalid events sent to the dead-letter topic.",
               ("topic", "reason"), _PIPE),
    FamilySpec("cc_events_duplicate_total", _C,
               "Events dropped because their event_id was seen before.", ("topic",), _PIPE),
    FamilySpec("cc_events_late_total", _C,
               "Events older than their entity's retention behind stream time: not applied.",
               ("topic",), _PIPE),
    FamilySpec("cc_last_event_timestamp_seconds", _G,
               "Event time of the newest event per topic (freshness).", ("topic",), _PIPE),
    FamilySpec("cc_event_lag_seconds", _H, "Processing time minus event time.", ("topic",),
               _PIPE),
    FamilySpec("cc_consumer_lag_messages", _G,
               "Messages in the partition not yet processed by this worker.",
               ("topic", "partition"), _PIPE),
    FamilySpec("cc_dead_letters_pending", _G,
               "Dead letters of this worker waiting for the dead-letter topic to acknowledge "
               "them (a bounded buffer: when it is full the worker stops fetching).",
               (), _PIPE),
    FamilySpec("cc_entities", _G,
               "Entities this worker keeps, by where their record is: memory (as objects), "
               "frozen (idle, held as pickled bytes in memory until a checkpoint has written "
               "it to the local store: near 0, or every idle one with a memory:// store), "
               "disk (idle, or not read since a restart from a snapshot: only in the local "
               "store, read back when needed).", ("where",), _PIPE),
    FamilySpec("cc_local_store_memory_bytes", _G,
               "Memory of this worker's local RocksDB stores (one block cache shared by all, "
               "its memtables charged to it), bytes; at most ~64 MiB (a fixed budget) "
               "whatever the partitions; no sample with a memory:// store.", (), _PIPE),
    FamilySpec("cc_build_info", _G, "ccpulse build; the value is always 1.", ("version",),
               _PIPE),
)

SPECS: dict[str, FamilySpec] = {spec.name: spec for spec in CATALOGUE}

#: Windowed ratio or average -> (numerator family, denominator family).
RATIO_PARTS: dict[str, tuple[str, str]] = {
    "cc_service_level_ratio": ("cc_window_contacts_service_level_met",
                               "cc_window_contacts_service_level_counted"),
    "cc_average_speed_of_answer_seconds": ("cc_window_contact_wait_seconds_sum",
                                           "cc_window_contacts_answered"),
    "cc_abandon_ratio": ("cc_window_contacts_abandoned", "cc_window_contacts_left_queue"),
    "cc_blocking_ratio": ("cc_window_calls_blocked", "cc_window_calls_attempted"),
    "cc_average_handle_time_seconds": ("cc_window_contact_handle_seconds_sum",
                                       "cc_window_contacts_handled"),
    "cc_first_contact_resolution_ratio": ("cc_window_contacts_resolved_first_contact",
                                          "cc_window_contacts_handled"),
    "cc_chat_response_average_seconds": ("cc_window_chat_response_seconds_sum",
                                         "cc_window_chat_responses"),
    "cc_occupancy_ratio": ("cc_window_agent_busy_seconds", "cc_window_agent_staffed_seconds"),
    "cc_ticket_first_response_average_seconds": ("cc_window_ticket_first_response_seconds",
                                                 "cc_window_ticket_first_responses"),
    "cc_ticket_first_response_business_average_seconds": (
        "cc_window_ticket_first_response_business_seconds",
        "cc_window_ticket_first_responses"),
    "cc_ticket_first_response_within_target_ratio": (
        "cc_window_ticket_first_responses_within_target",
        "cc_window_ticket_first_responses_with_target"),
    "cc_ticket_response_average_seconds": ("cc_window_ticket_response_seconds",
                                           "cc_window_ticket_responses"),
    "cc_ticket_resolution_average_seconds": ("cc_window_ticket_resolution_seconds",
                                             "cc_window_tickets_solved"),
    "cc_ticket_resolution_business_average_seconds": (
        "cc_window_ticket_resolution_business_seconds", "cc_window_tickets_solved"),
    "cc_ticket_resolution_ratio": ("cc_window_tickets_created_and_solved",
                                   "cc_window_tickets_created_all"),
    "cc_ticket_first_contact_resolution_ratio": ("cc_window_tickets_resolved_first_contact",
                                                 "cc_window_tickets_solved"),
    "cc_replies_per_ticket": ("cc_window_ticket_replies_before_solve",
                              "cc_window_tickets_solved"),
    "cc_csat_ratio": ("cc_window_csat_satisfied", "cc_window_csat_responses"),
    "cc_ces_ratio": ("cc_window_ces_easy", "cc_window_ces_responses"),
    "cc_ces_average_score": ("cc_window_ces_score", "cc_window_ces_responses"),
    "cc_iqs_ratio": ("cc_window_iqs_score", "cc_window_qa_reviews"),
    "cc_customer_churn_ratio": ("cc_window_customers_churned", "cc_window_customers_start"),
    "cc_referral_ratio": ("cc_window_customers_referred", "cc_window_customers_acquired"),
    "cc_per_agent_average_handle_time_seconds": ("cc_window_per_agent_handle_seconds",
                                                 "cc_window_per_agent_contacts_handled"),
    "cc_per_agent_first_contact_resolution_ratio": (
        "cc_window_per_agent_contacts_resolved_first_contact",
        "cc_window_per_agent_contacts_handled"),
    "cc_per_agent_occupancy_ratio": ("cc_window_per_agent_busy_seconds",
                                     "cc_window_per_agent_staffed_seconds"),
}


#: Scores that are not a plain numerator/denominator, with how a fleet-wide value is
#: computed from summable parts (documented, and used by the recording rules).
COMPOSITE_PARTS: dict[str, str] = {
    "cc_nps_score": "100 * (sum(cc_window_nps_promoters) - sum(cc_window_nps_detractors)) / "
                    "sum(cc_window_nps_responses)",
    "cc_customer_retention_ratio": "(sum(cc_window_customers_end) - "
                                   "sum(cc_window_customers_acquired)) / "
                                   "sum(cc_window_customers_start)",
}


def new_family(name: str) -> Family:
    """An empty :class:`Family` for catalogue entry ``name`` (``KeyError`` if not catalogued)."""
    spec = SPECS[name]
    return Family(spec.name, spec.kind, spec.help, spec.labels)
