"""From ledgers and a clock to metric families (docs/contract.md §3, §4), as plain data.

Sums are merged first (over the partitions a worker owns, after mapping queues beyond
``max_queues`` to ``other``) and KPIs computed last, so a ratio is always numerator-sum over
denominator-sum, never an average of ratios. A ratio with a zero denominator is not exported.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from streams.core import contributions as F
from streams.core.admission import OTHER_QUEUE, UNKNOWN_QUEUE, QueueLabels
from streams.core.agent_groups import AgentGroups, OpenSpans, window_spans, windows_once
from streams.core.calendar import QueueCalendar
from streams.core.config import Config
from streams.core.contributions import AGENT_STATES, CONTACT_CHANNELS, OCCUPANCY_STATES, STALE
from streams.core.customers import customer_families
from streams.core.entities.customer import PREFIX as CUSTOMER_PREFIX
from streams.core.entities.customer import month_calendar
from streams.core.ledger import MINUTE_US, TICKET_HISTOGRAMS, Fields, Ledger
from streams.core.metrics import Family, Journal, new_family

WINDOWS = ("interval", "previous_interval", "today")
#: What one :func:`all_families` call computes once for all its builders (pure: a cache
#: that lives for the call only).
_SCRAPE: ContextVar[dict[Any, Any] | None] = ContextVar("ccpulse_scrape", default=None)
SECOND_US = 1_000_000
#: What the last :func:`all_families` computed from the ledgers' contents (and the window
#: boundaries) alone, kept for the next call: see :class:`_Reuse`.
_LAST: list[_Reuse] = []


_COUNTERS = {
    "offered": "cc_contacts_offered_total",
    "answered": "cc_contacts_answered_total",
    "abandoned": "cc_contacts_abandoned_total",
    "short_abandoned": "cc_contacts_short_abandoned_total",
    "flowed_out": "cc_contacts_flowed_out_total",
    "answered_within": "cc_contacts_answered_within_threshold_total",
    "handled": "cc_contacts_handled_total",
    "blocked": "cc_calls_blocked_total",
    STALE: "cc_contacts_stale_total",
    "resolved_first_contact": "cc_contacts_resolved_first_contact_total",
    "chat_responses": "cc_chat_responses_total",
}
#: Counters of summed times, kept in integer µs (exact in any order), exported in seconds.
_SECONDS_COUNTERS = {"chat_response_us": "cc_chat_response_seconds_total"}

_HISTOGRAMS = {"wait": "cc_contact_wait_seconds", "handle": "cc_contact_handle_seconds"}


def _sum_fields(into: dict[str, int], fields: Mapping[str, int] | None) -> None:
    if fields:
        for k, v in fields.items():
            into[k] = into.get(k, 0) + v


def _open_span_us(start: int, end: int, lo: int, hi: int) -> int:
    return max(0, min(end, hi) - max(start, lo))


def all_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                 live_us: Sequence[int] | None = None) -> list[Family]:
    """Every KPI family of contract §4 (pipeline health aside) at the engine clock ``now_us``:
    the one entry point of the worker's ``/metrics`` and the replay. A pure read.

    ``live_us`` (one per ledger, each at most ``now_us``) is the instant each ledger's live
    contact and ticket ages are shown as of (see :func:`contact_families`); by default
    ``now_us``."""
    from streams.core.agent_kpis import per_agent_families
    from streams.core.ticket_kpis import feedback_families, ticket_families

    for ledger in ledgers:  # what changed since the last scrape, apart (bookkeeping only)
        ledger.seal()
    reuse = (_reuse_for(config, ledgers, now_us) if _KEEP[0]
             else _Reuse(config, ledgers, {}, ()))  # afresh: for this call only
    # the window sums etc., computed once
    token = _SCRAPE.set({"reuse": reuse.results, "state": reuse})
    try:
        # The customer families follow the clock only by its month (streams.core.customers).
        month = month_calendar(config.customers.timezone).month(now_us)
        return [
            *contact_families(config, ledgers, now_us, live_us),
            *_reused(("customers", month), _sticky(
                "customers", lambda: customer_families(config, ledgers, now_us), month)),
            *ticket_families(config, ledgers, now_us, live_us),
            *feedback_families(config, ledgers, now_us),
            *per_agent_families(config, ledgers, now_us),
        ]
    finally:
        _SCRAPE.reset(token)


class _Reuse:
    """The state a scrape read — the ledgers (each one's identity and :attr:`Ledger.version`),
    the queue labels, the configuration and the window boundaries at the clock — with
    ``results``: what was computed from that state and nothing else (not the clock itself:
    live ages and open spans are computed at every scrape). A scrape of the same state
    reuses them, so a quiet worker's scrape costs only what moves with the clock.

    Exact: a ledger's version is stamped anew at every change of its contents
    (``streams.core.ledger``), a ledger is held by a weak reference (an id is never mistaken
    for a new ledger's), the labels are compared by value, and everything keyed by windows is
    keyed by every calendar's window boundaries at the clock."""

    def __init__(self, config: Config, ledgers: Sequence[Ledger], allowed: dict[str, None],
                 windows: tuple[Any, ...]) -> None:
        self.config = config
        self.refs = [weakref.ref(ledger) for ledger in ledgers]
        self.versions = [ledger.version for ledger in ledgers]
        self.allowed = allowed
        self.windows = windows
        self.results: dict[Any, Any] = {}

    def holds(self, config: Config, ledgers: Sequence[Ledger], allowed: dict[str, None],
              windows: tuple[Any, ...]) -> bool:
        return (config is self.config and len(ledgers) == len(self.refs)
                and all(ref() is ledger for ref, ledger in zip(self.refs, ledgers, strict=True))
                and [ledger.version for ledger in ledgers] == self.versions
                and windows == self.windows and allowed == self.allowed)


def _windows_at(config: Config, now_us: int) -> tuple[Any, ...]:
    """The window boundaries (:meth:`QueueCalendar.windows`) at ``now_us`` of every calendar
    the configuration gives a queue (a calendar is a function of these settings alone)."""
    settings = {(s.timezone, s.interval_minutes, s.day_start_minutes)
                for s in (config.defaults, *config.queues.values())}
    return tuple((key, QueueCalendar(*key).windows(now_us)) for key in sorted(settings))


def _reuse_for(config: Config, ledgers: Sequence[Ledger], now_us: int) -> _Reuse:
    """The reusable results of the last scrape when it read the same state, else a new,
    empty set of them (the last one's are dropped)."""
    label = _labels_for(config, ledgers)
    windows = _windows_at(config, now_us)
    if _LAST and _LAST[0].holds(config, ledgers, label._allowed, windows):
        return _LAST[0]
    _LAST[:] = [_Reuse(config, ledgers, dict(label._allowed), windows)]
    _LAST[0].results["labels"] = label
    return _LAST[0]


#: The queue labels of the last scrape, with what they are a function of: the configuration
#: and each ledger's admission (the very object, holding its first-seen times) at its
#: version (bumped at every change of them).
_LABELS: list[tuple[Config, list[Any], list[int], QueueLabels]] = []


def _labels_for(config: Config, ledgers: Sequence[Ledger]) -> QueueLabels:
    """``QueueLabels(config, ledgers)``: the last scrape's while no admission changed, or
    while the names the admissions hold are those labels (then they are ``max_queues`` or
    fewer, each one a label whatever its first-seen time)."""
    admissions = [ledger.admission for ledger in ledgers]
    versions = [admission.version for admission in admissions]
    if _LABELS:
        k_config, k_admissions, k_versions, label = _LABELS[0]
        if (k_config is config and len(k_admissions) == len(admissions)
                and all(a is b for a, b in zip(k_admissions, admissions, strict=True))):
            if k_versions == versions:
                return label
            # the same names as the labels: no more than max_queues, so each one a label
            names: dict[str, Any] = dict.fromkeys([*config.queues, UNKNOWN_QUEUE])
            for admission in admissions:
                names.update(admission.first_seen)
            if names.keys() == label._allowed.keys():
                _LABELS[:] = [(config, admissions, versions, label)]
                return label
    label = QueueLabels(config, ledgers)
    _LABELS[:] = [(config, admissions, versions, label)]
    return label


def forget() -> None:
    """Drop everything kept from earlier scrapes: the next one computes every family anew."""
    _LAST.clear()
    _LABELS.clear()
    for builder in _BUILDERS:
        builder.basis = None
    _AGENT_GROUPS.reset(None, [])
    for sticky in _STICKY.values():
        sticky.kept = None


@contextmanager
def afresh() -> Iterator[None]:
    """Within it, every scrape computes every family from the whole ledgers by the plain
    code the incremental builders are checked against (tests), leaving what is kept for
    the next scrape outside as it was."""
    _KEEP[0] = False
    try:
        yield
    finally:
        _KEEP[0] = True


#: Whether scrapes keep results for the next one (:func:`afresh` turns it off).
_KEEP = [True]


def queue_labels(config: Config, ledgers: Sequence[Ledger]) -> QueueLabels:
    """``QueueLabels(config, ledgers)``; inside :func:`all_families`, the scrape's."""
    return _reused_value("labels", lambda: QueueLabels(config, ledgers))  # type: ignore[no-any-return]


def _reused_value(key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, or inside :func:`all_families` its result for the same state if already
    computed (shared: callers only read it). A key ``(name, *rest)`` keeps only the latest
    ``rest`` of its name (the clock's minute, say: a quiet day must not pile them up)."""
    memo = _SCRAPE.get()
    if memo is None:
        return compute()
    results = memo["reuse"]
    if key == "ticket totals" or key == "feedback":
        compute = _sticky(key, compute)
    if isinstance(key, tuple):
        name, rest = key[0], key[1:]
        found = results.get(name)
        if found is None or found[0] != rest:
            found = results[name] = (rest, compute())
        return found[1]
    found = results.get(key)
    if found is None:
        found = results[key] = compute()
    return found


class _Sticky:
    """A result kept across changes of the ledgers that touch nothing it reads: no counter
    or histogram of its ``metrics``, no window sum field of its ``fields`` (when it reads
    window sums: a field any changed merged key had or has, :attr:`_WindowSums.fields_changed`),
    the same ``basis`` (configuration, labels, windows...) and ``extra`` (what else of the
    ledgers it reads). Exact: every change to a ledger's counters, histograms and buckets
    is stamped (:attr:`Ledger.touched_totals`, :attr:`Ledger.touched`), and a result is only
    kept while every window sums update since it was computed was checked."""

    def __init__(self, metrics: Callable[[str], bool], fields: Callable[[str], bool] | None,
                 extra: Callable[[Sequence[Ledger]], Any] | None = None) -> None:
        self.metrics, self.fields, self.extra = metrics, fields, extra
        self.kept: tuple[Any, ...] | None = None

    def get(self, ledgers: Sequence[Ledger], basis: Any, compute: Callable[[], Any]) -> Any:
        extra = self.extra(ledgers) if self.extra is not None else None
        kept = self.kept
        if kept is not None and self._holds(kept, ledgers, basis, extra):
            result = kept[-1]
        else:
            result = compute()
        self.kept = (basis, [weakref.ref(ledger) for ledger in ledgers],
                     [ledger.version for ledger in ledgers], _WINDOWS.generation, extra, result)
        return result

    def _holds(self, kept: tuple[Any, ...], ledgers: Sequence[Ledger], basis: Any,
               extra: Any) -> bool:
        k_basis, refs, versions, generation, k_extra, _ = kept
        if not (k_basis == basis and k_extra == extra and len(refs) == len(ledgers)
                and all(ref() is ledger for ref, ledger in zip(refs, ledgers, strict=True))):
            return False
        if versions == [ledger.version for ledger in ledgers]:
            return True
        if self.fields is not None:
            if _WINDOWS.generation != generation + 1 or _WINDOWS.basis is None:
                return False
            fields = self.fields
            if any(fields(f) for f in _WINDOWS.fields_changed):
                return False
        metrics = self.metrics
        for ledger, since in zip(ledgers, versions, strict=True):
            if ledger.version == since:
                continue
            keys = _changed(ledger, since, ledger.touched_totals)
            if keys is None or any(metrics(metric) for metric, _ in keys):
                return False
        return True


def _ticket_metric(metric: str) -> bool:
    from streams.core.ticket_kpis import _TICKET_COUNTERS

    return metric in _TICKET_COUNTERS or metric in TICKET_HISTOGRAMS


def _feedback_metric(metric: str) -> bool:
    from streams.core.ticket_kpis import _FEEDBACK_COUNTERS

    return metric in _FEEDBACK_COUNTERS


_FEEDBACK_FIELDS = frozenset({
    F.NPS_RESPONSES, F.NPS_PROMOTERS, F.NPS_DETRACTORS, F.CSAT_RESPONSES, F.CSAT_SATISFIED,
    F.CES_RESPONSES, F.CES_EASY, F.CES_SCORE_SUM, F.QA_REVIEWS, F.IQS_PPM})

#: What ``streams.core.ticket_kpis`` and ``streams.core.customers`` compute, kept while the
#: ledgers change only elsewhere (a contact-only floor recomputes none of them).
_STICKY = {
    "ticket totals": _Sticky(_ticket_metric, lambda f: f.startswith("ticket"),
                             lambda ledgers: [list(ledger.tickets_open) for ledger in ledgers]),
    "feedback": _Sticky(_feedback_metric, _FEEDBACK_FIELDS.__contains__),
    "customers": _Sticky(lambda metric: metric.startswith(CUSTOMER_PREFIX), None),
}


def _sticky(name: str, compute: Callable[[], Any], clock: Any = None) -> Callable[[], Any]:
    """``compute`` through the :data:`_STICKY` rule of ``name``, inside a kept scrape whose
    window sums are kept (:class:`_WindowSums`); ``compute`` itself otherwise. ``clock``:
    what of the clock the result depends on beyond the windows (the customers' month)."""
    memo = _SCRAPE.get()
    reuse: _Reuse | None = memo["state"] if memo is not None else None
    if (reuse is None or not _KEEP[0] or not reuse.refs
            or OTHER_QUEUE in reuse.config.queues):
        return compute
    ledgers = [ref() for ref in reuse.refs]
    basis = (reuse.config, reuse.allowed, reuse.windows, clock)
    return lambda: _STICKY[name].get(ledgers, basis, compute)  # type: ignore[arg-type]


def _reused(key: Any, compute: Callable[[], list[Family]]) -> list[Family]:
    """:func:`_reused_value` for families: always families of their own (a caller may add
    to them)."""
    return copy_families(_reused_value(key, compute))


def copy_families(fams: Sequence[Family]) -> list[Family]:
    """New families with the samples of ``fams`` (the sample values shared, not changed)."""
    return [f.copy() for f in fams]


def contact_families(config: Config, ledgers: Sequence[Ledger], now_us: int,
                     live_us: Sequence[int] | None = None) -> list[Family]:
    """Every contact, blocked-call and agent family of contract §4 at the engine clock ``now_us``.

    ``live_us[i]`` is the instant the live contact gauges (waiting now, oldest wait, stale)
    of ``ledgers[i]`` are shown as of: ``now_us`` for a ledger whose feed is live (the
    default, and always in the replay), its feed's time for one that is behind (a worker
    catching up; ``streams.worker.state`` decides). Windows always follow ``now_us``.

    A pure read: two calls with the same ledgers and clocks give the same families.
    """
    label = queue_labels(config, ledgers)
    fams: list[Family] = []
    totals = _reused("contact totals", lambda: _TOTALS.families(ledgers, label) if _KEEP[0]
                     else _contact_totals(ledgers, label))
    counters = dict(zip((*_COUNTERS, *_SECONDS_COUNTERS), totals, strict=False))
    hists = dict(zip(_HISTOGRAMS, totals[len(counters):], strict=True))

    clocks = [now_us] * len(ledgers) if live_us is None else live_us
    live = _live_contact_families(config, ledgers, label, clocks, counters[STALE])
    fams.extend(counters.values())
    fams.extend(hists.values())
    fams.extend(live)
    fams.extend(_reused("window families",
                        lambda: _window_families(config, ledgers, label, now_us)))
    fams.extend(_agent_families(config, ledgers, label, now_us))
    from streams.core.staffing import kept_erlang_families  # it reads this module's sums

    # The Erlang families follow the clock by its minute (the trailing 30 minutes), its
    # windows (today's AHT) and which waiting segments are stale (streams.core.staffing).
    instants = _reused_value("stale instants", lambda: _stale_instants(config, ledgers))
    stale = bisect_left(instants, now_us)
    fams.extend(_reused(("erlang", now_us - now_us % MINUTE_US, stale),
                        lambda: kept_erlang_families(config, ledgers, now_us, label, instants)))
    return fams


def _stale_instants(config: Config, ledgers: Sequence[Ledger]) -> list[int]:
    """When each waiting segment turns stale, ascending: a segment is stale at ``now_us``
    when its instant is before it (``queued_us < now_us - stale_after_us``), so the stale
    segments at ``now_us`` are the first ``bisect_left(instants, now_us)``."""
    instants: list[int] = []
    for ledger in ledgers:
        for (queue, _), segs in ledger.waiting.items():
            after_us = config.queue(queue).stale_after_us
            instants.extend(queued_us + after_us for _, queued_us in segs)
    instants.sort()
    return instants


def _contact_totals(ledgers: Sequence[Ledger], label: QueueLabels) -> list[Family]:
    """The contact counters (:data:`_COUNTERS`, :data:`_SECONDS_COUNTERS`, in that order) and
    histograms (:data:`_HISTOGRAMS`): functions of the ledgers' contents alone."""
    counters = {k: new_family(name) for k, name in (*_COUNTERS.items(),
                                                    *_SECONDS_COUNTERS.items())}
    for ledger in ledgers:
        for (metric, labels), value in ledger.counters.items():
            fam = counters.get(metric)
            if fam is not None:  # other kinds' counters are exported by their own builders
                fam.add((label(labels[0]), *labels[1:]), value)
    for metric in _SECONDS_COUNTERS:
        fam = counters[metric]
        fam.samples = {k: v / SECOND_US for k, v in fam.samples.items()}
    for key in counters["handled"].samples:  # a counter starts at 0 beside its denominator
        counters["resolved_first_contact"].samples.setdefault(key, 0)
    for key in counters["chat_responses"].samples:
        counters["chat_response_us"].samples.setdefault(key, 0.0)

    hists = {k: new_family(name) for k, name in _HISTOGRAMS.items()}
    for ledger in ledgers:
        for (metric, labels), row in ledger.histograms.items():
            fam = hists.get(metric)
            if fam is None:
                continue
            key = (label(labels[0]), *labels[1:])
            prev = fam.samples.get(key)
            bounds = ledger.bounds[metric]
            if prev is None:
                fam.samples[key] = (bounds, list(row[:-1]), row[-1])
            else:
                fam.samples[key] = (bounds, [a + b for a, b in zip(prev[1], row[:-1], strict=True)],
                                    prev[2] + row[-1])
    for fam in hists.values():  # sums were kept in integer µs (exact); export seconds
        for key, (bounds, counts, total_us) in fam.samples.items():
            fam.samples[key] = (bounds, counts, total_us / SECOND_US)

    return [*counters.values(), *hists.values()]


_MISSING: Any = object()


def _changed(ledger: Ledger, since: int | None, touched: dict[Any, int]) -> list[Any] | None:
    """The keys of ``touched`` (:attr:`Ledger.touched` or :attr:`Ledger.touched_totals`)
    changed after the stamp ``since`` (:meth:`Ledger.changed_after`: in the epochs sealed
    since); None when anything may have (never seen, reshaped since, or read last before
    the oldest epoch kept)."""
    if since is None or ledger.reshaped > since:
        return None
    if ledger.version == since:
        return []
    totals = touched is ledger.touched_totals
    memo = _SCRAPE.get()
    if memo is None:
        return ledger.changed_after(since, totals)
    key = (id(touched), since)  # within one scrape: the same dict, still alive
    found = memo.get(key, _MISSING)
    if found is _MISSING:
        found = memo[key] = ledger.changed_after(since, totals)
    return found  # type: ignore[no-any-return]


class _Incremental:
    """What a builder computed from some ledgers, kept across scrapes and brought up to date
    from the keys each ledger changed since (:attr:`Ledger.touched`): valid for the same
    ledgers (weak references) and the same ``basis`` (configuration, labels, windows...);
    for any other, everything is computed again."""

    def __init__(self) -> None:
        self.basis: Any = None
        self.refs: list[weakref.ref[Ledger]] = []
        self.seen: list[int] = []

    def sync(self, ledgers: Sequence[Ledger], basis: Any) -> bool:
        """Whether what is kept is for these ledgers and ``basis`` (else the caller starts
        over); the ledgers' versions are read by :meth:`since` before :meth:`done`."""
        same = (self.basis is not None and basis == self.basis
                and len(ledgers) == len(self.refs)
                and all(ref() is ledger for ref, ledger in zip(self.refs, ledgers,
                                                               strict=True)))
        if not same:
            self.basis = basis
            self.refs = [weakref.ref(ledger) for ledger in ledgers]
            self.seen = []
        return same

    def since(self, i: int) -> int | None:
        return self.seen[i] if self.seen else None

    def done(self, ledgers: Sequence[Ledger]) -> None:
        self.seen = [ledger.version for ledger in ledgers]


class _ContactTotals(_Incremental):
    """:func:`_contact_totals`, kept up to date from the counters and histograms changed
    (``tests/unit/test_scrape_reuse.py`` compares it with a fresh computation): each
    ledger's values as last merged, the merged sums and how many (ledger, key) entries each
    merged key has, and the families' samples."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()
        #: the merged keys changed at the last update, and how many updates there were
        self.changed: dict[tuple[str, tuple[str, ...]], None] = {}
        self.generation = 0

    def reset(self) -> None:
        self.merged_from: list[dict[Any, Any]] = []
        self.sums: dict[tuple[str, tuple[str, ...]], Any] = {}
        self.entries: dict[tuple[str, tuple[str, ...]], int] = {}
        self.samples: dict[str, dict[tuple[str, ...], Any]] = {
            m: {} for m in (*_COUNTERS, *_SECONDS_COUNTERS, *_HISTOGRAMS)}
        #: metric -> the keys each update wrote in its samples
        self.journals = {m: Journal() for m in self.samples}
        self.bounds: dict[str, Any] = {}

    def families(self, ledgers: Sequence[Ledger], label: QueueLabels) -> list[Family]:
        if not self.sync(ledgers, dict(label._allowed)):
            self.reset()
        if not self.merged_from:
            self.merged_from = [{} for _ in ledgers]
        changed: dict[tuple[str, tuple[str, ...]], None] = {}
        for i, ledger in enumerate(ledgers):
            keys = _changed(ledger, self.since(i), ledger.touched_totals)
            merged = self.merged_from[i]
            if keys is None:
                keys = [*merged, *ledger.counters, *ledger.histograms]
            for key in keys:
                self._merge(ledger, merged, key, label, changed)
        self.done(ledgers)
        written = self._export(changed)
        epochs = {m: journal.close(written.get(m, ())) for m, journal in self.journals.items()}
        self.changed = changed
        self.generation += 1
        # the samples themselves: kept by the scrape's results (_reused copies them out),
        # changed only at the next update, which is for a new state's results
        return [Family(fam.name, fam.kind, fam.help, fam.labels, self.samples[m],
                       self.journals[m], epochs[m])
                for m, fam in self._templates()]

    def _merge(self, ledger: Ledger, merged: dict[Any, Any], key: tuple[str, tuple[str, ...]],
               label: QueueLabels, changed: dict[Any, None]) -> None:
        metric, labels = key
        if metric in _HISTOGRAMS:
            new = ledger.histograms.get(key, _MISSING)
            self.bounds[metric] = ledger.bounds[metric]
        elif metric in _COUNTERS or metric in _SECONDS_COUNTERS:
            new = ledger.counters.get(key, _MISSING)
        else:
            return
        old = merged.get(key, _MISSING)
        if new is _MISSING and old is _MISSING:
            return
        if new is not _MISSING and old is not _MISSING and new == old:
            return
        mkey = (metric, (label(labels[0]), *labels[1:]))
        total = self.sums.get(mkey, _MISSING)
        if new is _MISSING:
            del merged[key]
            n = self.entries[mkey] - 1
            if n:
                self.entries[mkey] = n
            else:
                del self.entries[mkey]
        elif old is _MISSING:
            self.entries[mkey] = self.entries.get(mkey, 0) + 1
        if isinstance(new, list) or isinstance(old, list):
            row = ([0] * len(new if new is not _MISSING else old) if total is _MISSING
                   else list(total))
            if old is not _MISSING:
                row = [a - b for a, b in zip(row, old, strict=True)]
            if new is not _MISSING:
                row = [a + b for a, b in zip(row, new, strict=True)]
                merged[key] = list(new)
            total = row
        else:
            total = (0 if total is _MISSING else total) + (0 if new is _MISSING else new) - (
                0 if old is _MISSING else old)
            if new is not _MISSING:
                merged[key] = new
        if mkey in self.entries:
            self.sums[mkey] = total
        else:
            self.sums.pop(mkey, None)
        changed[mkey] = None

    def _export(self, changed: dict[tuple[str, tuple[str, ...]], None]
                ) -> dict[str, list[tuple[str, ...]]]:
        """The samples of the merged keys changed, as :func:`_contact_totals` writes them;
        the keys written, by metric."""
        sums, samples = self.sums, self.samples
        written: dict[str, list[tuple[str, ...]]] = {}
        for metric, key in changed:
            written.setdefault(metric, []).append(key)
            found = sums.get((metric, key), _MISSING)
            if metric in _HISTOGRAMS:
                if found is _MISSING:
                    samples[metric].pop(key, None)
                else:
                    samples[metric][key] = (self.bounds[metric], found[:-1],
                                            found[-1] / SECOND_US)
                continue
            if metric in _SECONDS_COUNTERS:
                found = found if found is _MISSING else found / SECOND_US
            if found is _MISSING:
                samples[metric].pop(key, None)
            else:
                samples[metric][key] = found
            for own, beside, zero in (("resolved_first_contact", "handled", 0),
                                      ("chat_response_us", "chat_responses", 0.0)):
                if metric in (own, beside):  # a counter starts at 0 beside its denominator
                    written.setdefault(own, []).append(key)
                    value = sums.get((own, key), _MISSING)
                    if value is not _MISSING:
                        samples[own][key] = value / SECOND_US if own in _SECONDS_COUNTERS \
                            else value
                    elif (beside, key) in sums:
                        samples[own][key] = zero
                    else:
                        samples[own].pop(key, None)
        return written

    @staticmethod
    def _templates() -> list[tuple[str, Family]]:
        return [(m, new_family(name)) for m, name in (*_COUNTERS.items(),
                                                       *_SECONDS_COUNTERS.items(),
                                                       *_HISTOGRAMS.items())]


_TOTALS = _ContactTotals()


def _live_contact_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, live_us: Sequence[int],
    stale: Family
) -> list[Family]:
    """Waiting now and the oldest wait, leaving out stale segments — which ``stale`` (the
    counter, so far holding segments whose outcome came after they turned stale) counts.
    Stale is a function of the state and the clock: serving a scrape writes nothing.

    Each ledger is read at its own live clock ``live_us[i]``: the ages of its segments and
    the stale cut-off are measured from it (a segment queued after it is 0 s old)."""
    stale.journal = None  # its samples changed below, apart from its builder's
    waiting = new_family("cc_queue_contacts_waiting")
    oldest = new_family("cc_queue_oldest_wait_seconds")
    offered = (_TOTALS.samples["offered"] if _KEEP[0] and _TOTALS.generation
               and _TOTALS.basis is not None else None)
    keys = offered if offered is not None and _SCRAPE.get() is not None else _reused_value(
        "offered keys", lambda: _offered_keys(ledgers, label))
    for key in keys:
        waiting.samples.setdefault(key, 0)
        oldest.samples.setdefault(key, 0.0)
        stale.samples.setdefault(key, 0)
    for ledger, now_us in zip(ledgers, live_us, strict=True):
        for (queue, channel), segs in ledger.waiting.items():
            key = (label(queue), channel)
            stale_before = now_us - config.queue(queue).stale_after_us
            for (_, queued_us), n in segs.items():
                if queued_us < stale_before:
                    stale.add(key, n)
                    continue
                waiting.add(key, n)
                age = max(0.0, (now_us - queued_us) / SECOND_US)
                if age > oldest.samples.get(key, 0.0):
                    oldest.samples[key] = age
    return [waiting, oldest]


def _offered_keys(ledgers: Sequence[Ledger], label: QueueLabels) -> list[tuple[str, str]]:
    """(queue label, channel) of every offered counter, in the ledgers' order."""
    return list(dict.fromkeys((label(labels[0]), labels[1]) for ledger in ledgers
                              for (metric, labels) in ledger.counters if metric == "offered"))


def _window_sums(
    ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> dict[tuple[str, str, str], dict[str, int]]:
    """(queue label, channel, window) -> summed fields; channel "" holds agent time.

    Within :func:`all_families` (same ledgers and labels) computed once for a state and its
    windows, and shared: callers only read it."""
    memo = _SCRAPE.get()
    results = memo["reuse"] if memo is not None else None  # this state's, at these windows
    if results is not None and "window sums" in results:
        return results["window sums"]
    if (results is not None and ledgers and _KEEP[0]
            and OTHER_QUEUE not in ledgers[0].config.queues):
        sums = _WINDOWS.sums_at(ledgers, label, now_us)
        results["window sums"] = sums
        return sums
    return _fresh_window_sums(ledgers, label, now_us)


def _fresh_window_sums(
    ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> dict[tuple[str, str, str], dict[str, int]]:
    """:func:`_window_sums` computed from every ledger's buckets."""
    sums: dict[tuple[str, str, str], dict[str, int]] = {}
    windows_of: dict[Any, tuple[int, int, int]] = {}  # calendar -> its windows at now_us
    for ledger in ledgers:
        for (queue, channel), buckets in ledger.intervals.items():
            cal = ledger.calendar(queue)
            found = windows_of.get(cal)
            if found is None:
                found = windows_of[cal] = cal.windows(now_us)
            current, previous, day = found
            days = ledger.days[(queue, channel)]
            q = label(queue)
            windows = (("interval", buckets.get(current)),
                       ("previous_interval", buckets.get(previous)),
                       ("today", days.get(day)))
            if not any(fields for _, fields in windows):
                continue  # nothing now (e.g. only bookings since retracted): no series
            for window, fields in windows:  # the other windows of a live one show 0
                _sum_fields(sums.setdefault((q, channel, window), {}), fields)
    return sums


class _WindowSums(_Incremental):
    """:func:`_fresh_window_sums`, kept up to date from the (queue, channel) keys each ledger
    changed (:attr:`Ledger.touched`): a merged key (queue label, channel) whose members
    (ledger, queue name) changed is summed again from its members' buckets, in the ledgers'
    order. Valid for the same labels and window boundaries (the ``basis``).

    A floor's events book into the current interval (and so the current day), an agent's
    state span at times into the previous one too: while every booking of a merged key
    since the last update was at an instant in the current interval and day of every
    calendar (which this asks each ledger to watch: :meth:`Ledger.watch_current`), only its
    interval is summed again, its previous interval unchanged and its day moved as its
    interval did (exact: the fields are integers); in the previous or current interval of
    that day, both intervals are summed and its day moved as they did. Any other change (a
    booking outside, a member come or gone, a day field back at 0) sums all three."""

    def __init__(self) -> None:
        super().__init__()
        self.reset(0)
        self.generation = 0

    def reset(self, n: int) -> None:
        self.sums: dict[tuple[str, str, str], dict[str, int]] = {}
        #: (queue label, channel) -> {(ledger index, queue name): its cell}: the member's
        #: bucket fields of the three windows (the very dicts the ledger books into), kept
        #: once it has all three (None: looked up at each sum)
        self.members: dict[tuple[str, str], dict[tuple[int, str], _Cell | None]] = {}
        #: per ledger: (queue name, channel) -> its merged key, for the keys it has
        self.own: list[dict[tuple[str, str], tuple[str, str]]] = [{} for _ in range(n)]
        #: the merged keys summed again at the last update, and every field their sums had
        #: before or have after it
        self.changed: dict[tuple[str, str], None] = {}
        self.fields_changed: dict[str, Any] = {}
        #: the instants watched in every ledger (:func:`_current_span` of the basis), and
        #: per ledger the stamp of the :meth:`Ledger.watch_current` call that asked for them
        self.current: tuple[int, int, int] = (0, 0, 0)
        self.watched: list[int] = [0] * n

    def sums_at(self, ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
                ) -> dict[tuple[str, str, str], dict[str, int]]:
        config = ledgers[0].config
        windows = _windows_at(config, now_us)
        if not self.sync(ledgers, (config, dict(label._allowed), windows)):
            self.reset(len(ledgers))
            self.current = _current_span(windows, now_us)
        #: merged key -> where its members were booked: 2 outside the watched instants
        #: (or a member come or gone), 1 into its previous interval, 0 its current one only
        changed: dict[tuple[str, str], int] = {}
        members = self.members
        for i, ledger in enumerate(ledgers):
            own = self.own[i]
            since = self.since(i)
            keys = _changed(ledger, since, ledger.touched)
            # A kept cell holds while the ledger is not reshaped (buckets go only then) and
            # the windows are the same (the basis): when anything may have changed, every
            # cell of the ledger is looked up again.
            everything = keys is None
            if keys is None:
                keys = [*own, *ledger.intervals]
            watched = (not everything and ledger.current_set == self.watched[i]
                       and ledger.current_us == self.current)
            for key in keys:
                mkey = own.get(key)
                if key in ledger.intervals:
                    if mkey is None:
                        mkey = own[key] = (label(key[0]), key[1])
                        members.setdefault(mkey, {})[(i, key[0])] = None
                        changed[mkey] = 2
                        continue
                    if everything:
                        members[mkey][(i, key[0])] = None
                elif mkey is not None:
                    del own[key]
                    del members[mkey][(i, key[0])]
                    changed[mkey] = 2
                    continue
                else:
                    continue
                where = ledger.booked_where(key, since) if watched else 2  # type: ignore[arg-type]
                if where > changed.get(mkey, -1):
                    changed[mkey] = where
        self.done(ledgers)
        for i, ledger in enumerate(ledgers):  # bookings from now on: watched
            if ledger.current_set != self.watched[i] or ledger.current_us != self.current:
                self.watched[i] = ledger.watch_current(*self.current)
        windows_of: dict[Any, tuple[int, int, int]] = {}
        fields_changed: dict[str, Any] = {}
        for mkey, where in changed.items():
            if where == 2 or not self._current_summed(ledgers, mkey, now_us, windows_of,
                                                      fields_changed, where == 1):
                self._summed(ledgers, mkey, now_us, windows_of, fields_changed)
        self.changed = dict.fromkeys(changed)
        self.fields_changed = fields_changed
        self.generation += 1
        return self.sums

    def _cells(self, ledgers: Sequence[Ledger], mkey: tuple[str, str], now_us: int,
               windows_of: dict[Any, tuple[int, int, int]]) -> Collection[_Cell]:
        """The cells of ``mkey``'s members, in the ledgers' order (kept once complete)."""
        cells = self.members.get(mkey) or {}
        if None not in cells.values():  # every one kept (most keys of a busy scrape)
            return cells.values()  # type: ignore[return-value]
        channel = mkey[1]
        found_cells: list[_Cell] = []
        for member, cell in cells.items():
            if cell is None:
                i, queue = member
                ledger = ledgers[i]
                key = (queue, channel)
                cal = ledger.calendar(queue)
                found = windows_of.get(cal)
                if found is None:
                    found = windows_of[cal] = cal.windows(now_us)
                current, previous, day = found
                buckets = ledger.intervals[key]
                cell = (buckets.get(current), buckets.get(previous), ledger.days[key].get(day))
                if None not in cell:  # the same dicts while the windows are (basis)
                    cells[member] = cell  # type: ignore[index]
            found_cells.append(cell)
        return found_cells

    def _summed(self, ledgers: Sequence[Ledger], mkey: tuple[str, str], now_us: int,
                windows_of: dict[Any, tuple[int, int, int]],
                fields_changed: dict[str, Any]) -> None:
        """Sum ``mkey``'s three windows from its members' buckets."""
        q, channel = mkey
        summed = _member_sums(self._cells(ledgers, mkey, now_us, windows_of), len(WINDOWS))
        # no member with a field in any window: no sums (a member's field is in its window's)
        acc = summed if any(summed) else None
        if not self.members.get(mkey, True):
            del self.members[mkey]
        sums = self.sums
        for window, f in zip(WINDOWS, acc or (None, None, None), strict=True):
            key = (q, channel, window)
            old = sums.get(key)
            if old is not None and old == f:
                continue  # the same sums: kept, the very dict (_WindowFamilies skips it)
            if old:
                fields_changed.update(old)
            if f is None:
                sums.pop(key, None)
            else:
                sums[key] = f
                fields_changed.update(f)

    def _current_summed(self, ledgers: Sequence[Ledger], mkey: tuple[str, str], now_us: int,
                        windows_of: dict[Any, tuple[int, int, int]],
                        fields_changed: dict[str, Any], previous: bool) -> bool:
        """Sum ``mkey``'s interval (and with ``previous`` its previous interval) from its
        members' buckets and move its day by as much as they moved; False (nothing done)
        when that cannot be exact: no sums kept, or a day field at 0 (whether it is a field
        then is known only from the buckets)."""
        q, channel = mkey
        sums = self.sums
        keys = [(q, channel, "interval"), (q, channel, "previous_interval")]
        k_today = (q, channel, "today")
        today_was = sums.get(k_today)
        olds = [sums.get(key) for key in keys[:1 + previous]]
        if today_was is None or None in olds:
            return False
        news = _member_sums(self._cells(ledgers, mkey, now_us, windows_of), len(olds))
        today: dict[str, int] | None = None
        for was, now in zip(olds, news, strict=True):
            if now == was:
                continue
            if today is None:
                today = dict(today_was)
            get_was, get_now = was.get, now.get  # type: ignore[union-attr]
            for k in {**was, **now}:  # type: ignore[dict-item]
                moved = get_now(k, 0) - get_was(k, 0)
                if moved:
                    value = today.get(k, 0) + moved
                    if not value:
                        return False
                    today[k] = value
                elif k not in today:
                    return False
        if today is None:
            return True
        for key, was, now in zip(keys, olds, news, strict=False):
            if now != was:
                fields_changed.update(was)  # type: ignore[arg-type]
                fields_changed.update(now)
                sums[key] = now
        sums[k_today] = today
        return True


def _member_sums(cells: Collection[_Cell], windows: int) -> list[dict[str, int]]:
    """The fields of the first ``windows`` of :data:`WINDOWS` summed over ``cells`` (a
    member's cell: its fields in each window), in their order: exact (integers), a field
    summing to 0 where a member has it. ``_sum_fields`` inline: the loop of a busy scrape."""
    out: list[dict[str, int]] = []
    for w in range(windows):
        into: dict[str, int] = {}
        for cell in cells:
            f = cell[w]
            if f:
                if into:
                    get = into.get
                    for k, v in f.items():
                        into[k] = get(k, 0) + v
                else:
                    into.update(f)
        out.append(into)
    return out


def _current_span(windows: tuple[Any, ...], now_us: int) -> tuple[int, int, int]:
    """``(previous, start, end)``: ``[start, end)`` the instants in the current interval and
    business day at ``now_us`` of every calendar of ``windows`` (:func:`_windows_at`),
    ``[previous, start)`` those in the previous or current interval and in that day;
    ``(0, 0, 0)`` when an interval is not one offset from its zone (then two instants
    cannot tell)."""
    previous, start, end = 0, 0, 1 << 62
    for settings, (current, before, day) in windows:
        cal = QueueCalendar(*settings)
        after = current + cal.interval_us
        if (cal.interval_start(after - 1) != current or cal.interval_start(current - 1) != before
                or cal.offset_us(before) != cal.offset_us(after - 1)):
            return 0, 0, 0
        day_start, day_end = cal.day_bounds(now_us)
        if day_start != day:
            return 0, 0, 0
        previous = max(previous, before, day_start)
        start, end = max(start, current, day_start), min(end, after, day_end)
    return (previous, start, end) if start < end else (0, 0, 0)


#: A member's bucket fields in the three windows (``WINDOWS``), None where it has none.
_Cell = tuple[Fields | None, Fields | None, Fields | None]


_WINDOWS = _WindowSums()


def _ratio(fam: Family, labels: tuple[str, ...], num: float, den: float) -> None:
    if den > 0:
        fam.samples[labels] = num / den


def service_level_parts(policy: Any, f: dict[str, int]) -> tuple[int, int]:
    """``(met, counted)`` of docs/contract.md §3.2 for one window's fields under ``policy``:
    A≤T (+ B≤T when abandons are positive) (+ F≤T when flow-outs are positive) over
    A (+ B unless abandons are ignored) (+ F unless flow-outs are ignored). With
    ``flow_outs`` given per reason, F and F≤T are summed over the reasons by each one's rule."""
    met = f.get(F.ANSWERED_WITHIN, 0)
    counted = f.get(F.ANSWERED, 0)
    if policy.abandons != "ignored":
        counted += f.get(F.ABANDONED, 0)
        if policy.abandons == "positive":
            met += f.get(F.ABANDONED_WITHIN, 0)
    flow_outs = policy.flow_outs
    rules: tuple[tuple[str, str, str], ...]
    if isinstance(flow_outs, str):  # every reason alike: the totals
        rules = ((flow_outs, F.FLOWED_OUT, F.FLOWED_OUT_WITHIN),)
    else:
        rules = tuple((rule, F.FLOWED_OUT_FOR + reason, F.FLOWED_OUT_WITHIN_FOR + reason)
                      for reason, rule in flow_outs.items())
    for rule, flowed, flowed_within in rules:
        if rule != "ignored":
            counted += f.get(flowed, 0)
            if rule == "positive":
                met += f.get(flowed_within, 0)
    return met, counted


_WINDOW_FAMILIES = (
    "cc_window_contacts_offered", "cc_window_contacts_answered", "cc_window_contacts_abandoned",
    "cc_window_contacts_handled", "cc_window_calls_blocked", "cc_window_requests",
    "cc_service_level_ratio", "cc_service_level_target_ratio",
    "cc_average_speed_of_answer_seconds", "cc_abandon_ratio", "cc_blocking_ratio",
    "cc_average_handle_time_seconds", "cc_first_contact_resolution_ratio",
    "cc_chat_response_average_seconds",
    "cc_window_contacts_answered_within_threshold", "cc_window_contacts_flowed_out",
    "cc_window_contacts_short_abandoned", "cc_window_contacts_service_level_met",
    "cc_window_contacts_service_level_counted", "cc_window_contact_wait_seconds_sum",
    "cc_window_contacts_left_queue", "cc_window_contact_handle_seconds_sum",
    "cc_window_contacts_resolved_first_contact", "cc_window_calls_attempted",
    "cc_window_chat_response_seconds_sum", "cc_window_chat_responses",
)


def _window_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> list[Family]:
    sums = _window_sums(ledgers, label, now_us)
    if sums is _WINDOWS.sums and _SCRAPE.get() is not None:
        return _WINDOW_FAMILIES_KEPT.families(config, ledgers, label, now_us, sums)
    g = {name: new_family(name) for name in _WINDOW_FAMILIES}
    policies: dict[tuple[str, str], Any] = {}
    for ledger in ledgers:  # contact gauges exist for every (queue, channel) that was offered
        for (metric, labels) in ledger.counters:
            if metric == "offered" and labels[1] in CONTACT_CHANNELS:
                queue, channel = labels
                key = (label(queue), channel)
                if key not in policies:  # every name labelled other shares the defaults'
                    policies[key] = config.policy(queue, channel)
    blocked_by_qw: dict[tuple[str, str], int] = {}
    offered_voice_by_qw: dict[tuple[str, str], int] = {}
    requests: dict[tuple[str, str], int] = {}
    chat_by_qw: dict[tuple[str, str], list[float]] = {}
    for (q, channel, window), f in sums.items():
        if not channel:
            continue
        offered = f.get(F.OFFERED, 0)
        blocked = f.get(F.BLOCKED, 0)
        requests[(channel, window)] = (requests.get((channel, window), 0)
                                       + _requests_of(f))
        if channel == "voice":
            blocked_by_qw[(q, window)] = blocked_by_qw.get((q, window), 0) + blocked
            offered_voice_by_qw[(q, window)] = offered_voice_by_qw.get((q, window), 0) + offered
        if f.get(F.CHAT_RESPONSES):
            acc = chat_by_qw.setdefault((q, window), [0.0, 0.0])
            acc[0] += f.get(F.CHAT_RESPONSE_US, 0)
            acc[1] += f[F.CHAT_RESPONSES]
        policy = policies.get((q, channel))
        if policy is None:  # a channel that only ever had blocked calls booked
            continue
        _qcw_samples(g, (q, channel, window), policy, f)
    for (q, window), blocked in blocked_by_qw.items():
        _blocking_samples(g, (q, window), blocked, offered_voice_by_qw[(q, window)])
    for key, value in requests.items():
        g["cc_window_requests"].samples[key] = value
    for key, (total_us, n) in chat_by_qw.items():
        _chat_samples(g, key, total_us, n)
    return list(g.values())


def _requests_of(f: dict[str, int]) -> Any:
    return f.get(F.OFFERED, 0) + f.get(F.BLOCKED, 0) + f.get(F.TICKETS_CREATED, 0)


def _blocking_samples(g: dict[str, Family], key: tuple[str, str], blocked: Any,
                      offered_voice: Any) -> None:
    attempted = blocked + offered_voice
    g["cc_window_calls_blocked"].samples[key] = blocked
    g["cc_window_calls_attempted"].samples[key] = attempted
    _ratio_or_none(g["cc_blocking_ratio"], key, blocked, attempted)


def _chat_samples(g: dict[str, Family], key: tuple[str, str], total_us: float,
                  n: float) -> None:
    g["cc_window_chat_response_seconds_sum"].samples[key] = total_us / SECOND_US
    g["cc_window_chat_responses"].samples[key] = n
    _ratio_or_none(g["cc_chat_response_average_seconds"], key, total_us / SECOND_US, n)


#: The window families labelled (queue, channel, window), and those labelled (queue, window)
#: that :func:`_blocking_samples` and :func:`_chat_samples` write.
_QCW_FAMILIES = tuple(name for name in _WINDOW_FAMILIES if name not in (
    "cc_window_calls_blocked", "cc_window_calls_attempted", "cc_blocking_ratio",
    "cc_window_requests", "cc_chat_response_average_seconds",
    "cc_window_chat_response_seconds_sum", "cc_window_chat_responses"))
_BLOCKING_FAMILIES = ("cc_window_calls_blocked", "cc_window_calls_attempted",
                      "cc_blocking_ratio")
_CHAT_FAMILIES = ("cc_chat_response_average_seconds", "cc_window_chat_response_seconds_sum",
                  "cc_window_chat_responses")


def _qcw_samples(g: dict[str, Family], labels: tuple[str, str, str], policy: Any,
                 f: dict[str, int]) -> None:
    """The samples of one (queue, channel, window) with a policy, from its summed fields."""
    offered = f.get(F.OFFERED, 0)
    answered = f.get(F.ANSWERED, 0)
    abandoned = f.get(F.ABANDONED, 0)
    flowed = f.get(F.FLOWED_OUT, 0)
    handled = f.get(F.HANDLED, 0)
    wait_s = f.get(F.WAIT_ANSWERED_US, 0) / SECOND_US
    handle_s = f.get(F.HANDLE_US, 0) / SECOND_US
    resolved = f.get(F.RESOLVED_FIRST_CONTACT, 0)
    left_queue = answered + abandoned + flowed
    met, counted = service_level_parts(policy, f)
    for name, value in (
        ("cc_window_contacts_offered", offered),
        ("cc_window_contacts_answered", answered),
        ("cc_window_contacts_abandoned", abandoned),
        ("cc_window_contacts_handled", handled),
        ("cc_service_level_target_ratio", policy.target_ratio),
        ("cc_window_contacts_answered_within_threshold", f.get(F.ANSWERED_WITHIN, 0)),
        ("cc_window_contacts_flowed_out", flowed),
        ("cc_window_contacts_short_abandoned", f.get(F.SHORT_ABANDONED, 0)),
        ("cc_window_contacts_service_level_met", met),
        ("cc_window_contacts_service_level_counted", counted),
        ("cc_window_contact_wait_seconds_sum", wait_s),
        ("cc_window_contacts_left_queue", left_queue),
        ("cc_window_contact_handle_seconds_sum", handle_s),
        ("cc_window_contacts_resolved_first_contact", resolved),
    ):
        g[name].samples[labels] = value
    _ratio_or_none(g["cc_service_level_ratio"], labels, met, counted)
    _ratio_or_none(g["cc_average_speed_of_answer_seconds"], labels, wait_s, answered)
    _ratio_or_none(g["cc_abandon_ratio"], labels, abandoned, left_queue)
    _ratio_or_none(g["cc_average_handle_time_seconds"], labels, handle_s, handled)
    _ratio_or_none(g["cc_first_contact_resolution_ratio"], labels, resolved, handled)


def _ratio_or_none(fam: Family, labels: tuple[str, ...], num: float, den: float) -> None:
    """:func:`_ratio`, and no sample (any there is removed) with a zero denominator."""
    if den > 0:
        fam.samples[labels] = num / den
    else:
        fam.samples.pop(labels, None)


class _WindowFamilies(_Incremental):
    """:func:`_window_families`, kept up to date from the merged keys whose window sums
    changed (:attr:`_WindowSums.changed`) or whose offered counter appeared or went
    (:attr:`_ContactTotals.changed`): valid while it has seen every update of both."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.g = {name: new_family(name) for name in _WINDOW_FAMILIES}
        #: what each update wrote, by the families' labels: (queue, channel, window),
        #: (queue, window) and (channel, window) (the requests)
        self.journals = (Journal(), Journal(), Journal())
        for name, fam in self.g.items():
            fam.journal = self.journals[0 if name in _QCW_FAMILIES else
                                        2 if name == "cc_window_requests" else 1]
        self.policies: dict[tuple[str, str], Any] = {}
        #: (channel, window) -> [requests, how many (queue, channel, window) add to it]
        self.requests: dict[tuple[str, str], list[Any]] = {}
        #: queue label -> its channels with window sums
        self.channels: dict[str, dict[str, None]] = {}
        #: (queue label, channel, window) -> what it adds to its requests
        self.requests_of: dict[tuple[str, str, str], Any] = {}
        #: (queue label, channel, window) -> the window sums its samples were written from
        self.written: dict[tuple[str, str, str], dict[str, int]] = {}
        self.generations = (-1, -1)

    def families(self, config: Config, ledgers: Sequence[Ledger], label: QueueLabels,
                 now_us: int, sums: dict[tuple[str, str, str], dict[str, int]]
                 ) -> list[Family]:
        basis = _WINDOWS.basis
        seen = (_WINDOWS.generation - 1, _TOTALS.generation - 1)
        if (not self.sync(ledgers, basis) or self.generations != seen
                or _TOTALS.generation == 0):
            self.reset()
            dirty: dict[Any, None] = dict.fromkeys((q, c) for q, c, _ in sums)
            dirty.update((key, None) for (metric, key) in _TOTALS.sums if metric == "offered")
        else:
            dirty = dict(_WINDOWS.changed)
            dirty.update((key, None) for (metric, key) in _TOTALS.changed if metric == "offered")
        self.done(ledgers)
        self.generations = (_WINDOWS.generation, _TOTALS.generation)
        g, policies, requests, written = self.g, self.policies, self.requests, self.written
        qws: dict[str, None] = {}
        wrote: tuple[list[Any], list[Any], list[Any]] = ([], [], [])  # as self.journals
        for mkey in dirty:
            q, channel = mkey
            if not channel:
                continue
            had = policies.get(mkey)
            if ("offered", mkey) in _TOTALS.sums and channel in CONTACT_CHANNELS:
                policies[mkey] = config.policy(q, channel)
            else:
                policies.pop(mkey, None)
            policy = policies.get(mkey)
            qws[q] = None
            for window in WINDOWS:
                labels = (q, channel, window)
                f = sums.get(labels)
                if f is not None and written.get(labels) is f and had is policy:
                    continue  # the very sums written from, under the same policy
                if f is None:
                    written.pop(labels, None)
                else:
                    written[labels] = f
                rkey = (channel, window)
                wrote[0].append(labels)
                wrote[2].append(rkey)
                part = self.requests_of.pop(labels, None)
                if part is not None:
                    found = requests[rkey]
                    found[0] -= part
                    found[1] -= 1
                if f is None:
                    self.channels.get(q, {}).pop(channel, None)
                else:
                    self.channels.setdefault(q, {})[channel] = None
                    part = self.requests_of[labels] = _requests_of(f)
                    found = requests.setdefault(rkey, [0, 0])
                    found[0] += part
                    found[1] += 1
                total = requests.get(rkey)
                if total is not None:
                    if total[1]:
                        g["cc_window_requests"].samples[rkey] = total[0]
                    else:
                        del requests[rkey]
                        g["cc_window_requests"].samples.pop(rkey, None)
                if f is not None and policy is not None:
                    _qcw_samples(g, labels, policy, f)
                else:
                    for name in _QCW_FAMILIES:
                        g[name].samples.pop(labels, None)
        for q in qws:
            channels = self.channels.get(q, {})
            for window in WINDOWS:
                key = (q, window)
                wrote[1].append(key)
                voice = sums.get((q, "voice", window)) if "voice" in channels else None
                if voice is not None:
                    _blocking_samples(g, key, voice.get(F.BLOCKED, 0),
                                      voice.get(F.OFFERED, 0))
                else:
                    for name in _BLOCKING_FAMILIES:
                        g[name].samples.pop(key, None)
                acc: list[float] | None = None
                for channel in channels:
                    f = sums[(q, channel, window)]
                    if f.get(F.CHAT_RESPONSES):
                        if acc is None:
                            acc = [0.0, 0.0]
                        acc[0] += f.get(F.CHAT_RESPONSE_US, 0)
                        acc[1] += f[F.CHAT_RESPONSES]
                if acc is not None:
                    _chat_samples(g, key, acc[0], acc[1])
                else:
                    for name in _CHAT_FAMILIES:
                        g[name].samples.pop(key, None)
            if not channels:
                self.channels.pop(q, None)
        epochs = [journal.close(keys) for journal, keys in zip(self.journals, wrote, strict=True)]
        for fam in g.values():
            fam.epoch = epochs[self.journals.index(fam.journal)]
        return list(g.values())


_WINDOW_FAMILIES_KEPT = _WindowFamilies()
#: Every incremental builder (:func:`forget` starts them over).
_BUILDERS: list[_Incremental] = [_TOTALS, _WINDOWS, _WINDOW_FAMILIES_KEPT]


def _agent_families(
    config: Config, ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
) -> list[Family]:
    agents = new_family("cc_agents")
    occupancy = new_family("cc_occupancy_ratio")
    busy_fam = new_family("cc_window_agent_busy_seconds")
    staffed_fam = new_family("cc_window_agent_staffed_seconds")
    counts, closed, open_spans, _ = agents_now(ledgers, label, now_us)
    agents.samples = dict(counts)
    # (queue label, window) -> [busy µs, available µs] of the open spans: added to the closed
    # sums key by key below, which are read, not copied (most keys of a scrape)
    open_us: dict[tuple[str, str], list[int]] = {}
    for labels, window, field, hi, (n, total, latest, starts, before) in open_spans:
        # Σ max(0, end - start) over the group's starts: those before end, each (end - start).
        end = now_us if hi is None or now_us < hi else hi
        if latest < end:
            span = n * end - total  # integer µs: exact
        else:
            k = bisect_left(starts, end)
            span = k * end - before[k]
        if span:
            i = 1 if field == "t_available" else 0  # on_contact, after_contact_work: busy
            for q in labels:  # the group's span, once for each queue it serves
                key = (q, window)
                acc = open_us.get(key)
                if acc is None:
                    acc = open_us[key] = [0, 0]
                acc[i] += span
    busy_of, staffed_of, occupancy_of = busy_fam.samples, staffed_fam.samples, occupancy.samples
    for key, f in closed.items():  # _agent_samples, inline (1,500 keys on a wide floor)
        busy_us = f.get("t_on_contact", 0) + f.get("t_after_contact_work", 0)
        available_us = f.get("t_available", 0)
        acc = open_us.pop(key, None)
        if acc is not None:
            busy_us += acc[0]
            available_us += acc[1]
        busy = busy_us / SECOND_US
        staffed = busy + available_us / SECOND_US
        if staffed:
            busy_of[key] = busy
            staffed_of[key] = staffed
            if staffed > 0:
                occupancy_of[key] = busy / staffed
    for key, (busy_us, available_us) in open_us.items():  # queues with open spans only
        _agent_samples(key, busy_us, available_us, occupancy, busy_fam, staffed_fam)
    return [agents, occupancy, busy_fam, staffed_fam]


def _agent_samples(key: tuple[str, str], busy_us: int, available_us: int, occupancy: Family,
                   busy_fam: Family, staffed_fam: Family) -> None:
    """The busy and staffed seconds and the occupancy of (queue label, window) ``key`` from
    its agents' busy (on contact, after-contact work) and available µs; none when staffed 0."""
    busy = busy_us / SECOND_US
    staffed = busy + available_us / SECOND_US
    if not staffed:
        return
    busy_fam.samples[key] = busy
    staffed_fam.samples[key] = staffed
    _ratio(occupancy, key, busy, staffed)


def agents_now(ledgers: Sequence[Ledger], label: QueueLabels, now_us: int) -> tuple[
        dict[tuple[str, ...], int], dict[tuple[str, str], dict[str, int]],
        list[OpenSpans], dict[str, int]]:
    """``(counts, closed, open spans, staffed)`` of :func:`_agent_parts`, computed once per
    scrape (inside :func:`all_families`)."""
    return _reused_value(  # type: ignore[no-any-return]
        "agents", lambda: _agent_parts_kept(ledgers, label, now_us) if _KEEP[0]
        else _agent_parts(ledgers, label, now_us))


#: The agent groups' parts kept across scrapes (:func:`forget` starts them over).
_AGENT_GROUPS = AgentGroups()


def _agent_parts_kept(ledgers: Sequence[Ledger], label: QueueLabels, now_us: int,
                      kept: AgentGroups = _AGENT_GROUPS) -> tuple[
        dict[tuple[str, ...], int], dict[tuple[str, str], dict[str, int]],
        list[OpenSpans], dict[str, int]]:
    """:func:`_agent_parts`, the groups' part kept from the last scrape in ``kept``
    (:class:`~streams.core.agent_groups.AgentGroups`: only the groups changed since, or
    whose windows moved, computed again); the same values."""
    counts, open_spans, staffed, previous = kept.parts(list(ledgers), label, now_us)
    closed = _agent_window_sums(ledgers, label, now_us)
    for q, added in previous.items():
        qkey = (q, "previous_interval")
        sums = closed.get(qkey)
        sums = dict(sums) if sums is not None else {}
        for field, us in added.items():
            sums[field] = sums.get(field, 0) + us
        closed[qkey] = sums
    return counts, closed, open_spans, staffed


def _agent_window_sums(ledgers: Sequence[Ledger], label: QueueLabels, now_us: int
                       ) -> dict[tuple[str, str], dict[str, int]]:
    """(queue label, window) -> state field -> µs of the agents' closed spans (the window
    sums' channel ""): a new dict whose sums are shared, read only (a window's sums are
    replaced, not changed: copy one before adding to it)."""
    return {(q, window): f for (q, channel, window), f in
            _window_sums(ledgers, label, now_us).items() if channel == ""}


def _agent_parts(ledgers: Sequence[Ledger], label: QueueLabels, now_us: int) -> tuple[
        dict[tuple[str, ...], int], dict[tuple[str, str], dict[str, int]],
        list[OpenSpans], dict[str, int]]:
    """What the agent families take from the ledgers and the windows at ``now_us`` (the
    same at every clock with these windows): ``(counts, closed, open spans, staffed)``.

    Counts: (queue label, state) -> agents, every state of a queue with agents present
    (queues in name order, states in :data:`AGENT_STATES`' order).
    Closed: (queue label, window) -> state field -> µs that no longer move with the clock:
    the closed spans (the window sums) and the open spans' part of the previous interval
    (the clock is past its end). Open spans (:data:`OpenSpans`), for the current interval
    and today: per group of agents in the same state serving the same queues (over every
    ledger of the same configuration) and per calendar of those queues, the queue labels,
    the window, the state field, the window's end (``None``: the clock), and the agents'
    count, the sum and the latest of the instants their open spans start within the window
    (each one's start, or the window's if later), and those instants ascending with their
    running sums. A group's span up to a clock ``end`` past every start is
    ``count × end − sum``; else a bisection; each of its queues gets that span. Staffed:
    queue label -> agents in a staffed state (``streams.core.staffing``) serving it. Every
    sum is of integers: exact in any order.
    """
    counts: dict[tuple[str, ...], int] = {}
    closed = _agent_window_sums(ledgers, label, now_us)
    copied: dict[tuple[str, str], None] = {}  # the closed sums copied to be added to
    # the agents of every ledger by (state, queues, the ledger of their configuration)
    groups: dict[tuple[str, tuple[str, ...], Ledger], list[int]] = {}
    by_config: dict[int, Ledger] = {}
    for ledger in ledgers:
        first = by_config.setdefault(id(ledger.config), ledger)  # its calendars
        for (state, queues), members in ledger.agent_groups.items():
            key = (state, queues, first)
            found = groups.get(key)
            if found is None:
                groups[key] = [*members.values()]
            else:
                found.extend(members.values())
    named: dict[str, None] = {}
    staffed: dict[str, int] = {}
    #: (queues, ledger) -> [(calendar, the labels of its queues in the queues' order)]
    calendars_of: dict[tuple[tuple[str, ...], Ledger], list[tuple[Any, list[str]]]] = {}
    open_spans: list[OpenSpans] = []
    windows_of: dict[Any, tuple[int, int, int]] = {}
    for (state, queues, ledger), sinces in groups.items():
        n = len(sinces)
        by_cal = calendars_of.get((queues, ledger))
        if by_cal is None:
            labels_by_cal: dict[Any, list[str]] = {}
            for queue in queues:
                labels_by_cal.setdefault(ledger.calendar(queue), []).append(label(queue))
            by_cal = calendars_of[(queues, ledger)] = list(labels_by_cal.items())
        occupied = state in OCCUPANCY_STATES  # the staffed states
        for _, labels in by_cal:
            for q in labels:
                named[q] = None
                key2 = (q, state)
                counts[key2] = counts.get(key2, 0) + n
                if occupied:
                    staffed[q] = staffed.get(q, 0) + n
        if not occupied:
            continue
        field = "t_" + state
        sinces.sort()
        for cal, labels in by_cal:
            ended = window_spans(sinces, labels, field, cal.interval_us,
                                 windows_once(cal, now_us, windows_of), open_spans)
            if ended:
                for q in labels:
                    qkey = (q, "previous_interval")
                    sums = closed.get(qkey)
                    if sums is None:
                        sums = closed[qkey] = {}
                        copied[qkey] = None
                    elif qkey not in copied:
                        sums = closed[qkey] = dict(sums)
                        copied[qkey] = None
                    sums[field] = sums.get(field, 0) + ended
    # Every state of a queue with agents present, in an order that does not follow the
    # agents' (each change moves an agent to the end of its ledger's): the exposition keeps
    # the lines of a family whose keys come in the order they came last time.
    ordered: dict[tuple[str, ...], int] = {}
    get = counts.get
    for q in sorted(named):
        for s in AGENT_STATES:
            ordered[(q, s)] = get((q, s), 0)
    return ordered, closed, open_spans, staffed
