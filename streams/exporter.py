"""Prometheus exposition of the KPI families (docs/contract.md §4).

:func:`render` writes the text exposition format (0.0.4) of one consistent snapshot of the
core's plain :class:`~streams.core.metrics.Family` values, byte for byte what prometheus-client's
``generate_latest`` writes for them through :class:`KpiCollector` (a unit test compares the two
on a simulated day and on hostile label values). It exists for speed: at 500 queues × 2
channels a scrape is ~78,000 series, which prometheus-client's per-sample objects took ~630 ms
to render on 2 cores; written directly it takes a fraction of that. A scrape writes again
only what changed since the previous one: a family's text is reused while its samples are the
same, and a changed family's unchanged samples keep their lines (:func:`_cached_text`, exact:
``tests/unit/test_scrape_reuse.py``). :class:`KpiCollector` remains for registries that want
the collector interface.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator
from itertools import accumulate, compress
from operator import is_not, ne
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, disable_created_metrics, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from streams import __version__
from streams.core.metrics import Family, new_family

disable_created_metrics()

FamilySource = Callable[[], list[Family]]


def to_metric(fam: Family) -> Metric:
    """Convert one core family; samples are sorted so the output is deterministic."""
    labels = list(fam.labels)
    if fam.kind == "counter":
        counter = CounterMetricFamily(fam.name, fam.help, labels=labels)
        for lv, value in sorted(fam.samples.items()):
            counter.add_metric(list(lv), value)
        return counter
    if fam.kind == "gauge":
        gauge = GaugeMetricFamily(fam.name, fam.help, labels=labels)
        for lv, value in sorted(fam.samples.items()):
            gauge.add_metric(list(lv), value)
        return gauge
    out = HistogramMetricFamily(fam.name, fam.help, labels=labels)
    for lv, (bounds, counts, total) in sorted(fam.samples.items()):
        running = 0.0
        buckets = []
        for bound, n in zip(bounds, counts, strict=False):
            running += n
            buckets.append((floatToGoString(bound), running))
        running += counts[-1]
        buckets.append(("+Inf", running))
        out.add_metric(list(lv), buckets, total)
    return out


def build_info() -> Family:
    fam = new_family("cc_build_info")
    fam.samples[(__version__,)] = 1
    return fam


class KpiCollector:
    """A prometheus-client collector over a callable that returns the current families."""

    def __init__(self, source: FamilySource) -> None:
        self._source = source

    def describe(self) -> list[Metric]:
        return []  # never snapshot live state at registration time

    def collect(self) -> Iterator[Metric]:
        for fam in [*self._source(), build_info()]:
            yield to_metric(fam)


def render_with_client(source: FamilySource) -> bytes:
    """The text exposition of ``source`` through prometheus-client (the reference)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(source))
    return generate_latest(registry)


def render(source: FamilySource) -> bytes:
    """The text exposition (format 0.0.4) of ``source``'s families and ``cc_build_info``,
    identical to :func:`render_with_client`: :func:`render_parts` joined."""
    return b"".join(render_parts(source).parts)


#: How many lines of a gauge or counter are kept joined as one run (:func:`_runs`): ~45 KiB
#: of lines, under glibc's ``mmap`` threshold (128 KiB in the worker,
#: ``streams.worker.allocator``), so a run written again reuses the memory the last one freed.
#: Fewer, longer runs cost less to send (aiohttp: ~9 µs a piece) and more to join again.
RUN_LINES = 512
#: How many histogram samples' texts (~1 KiB each: a line per bucket) a run joins.
RUN_SAMPLES = 32
#: Pieces shorter than this are joined with their neighbours for sending (:func:`chunks`).
CHUNK_BYTES = 16_384


class Exposition(NamedTuple):
    """An exposition as pieces to concatenate in order (:func:`render_parts`): each a family's
    whole text or a run of its lines, kept from the render that wrote it."""

    parts: list[bytes]


def chunks(exposition: Exposition, at_least: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The exposition's pieces in order, for sending one after the other: a piece of
    ``at_least`` bytes or more as it is (not copied) when no shorter one waits, shorter ones
    (a small family's text, a family's last run) joined with the pieces after them until
    that long (a long piece then joined too: ~2 % of the bytes at 500 queues).

    An exposition is never copied whole: joined into one new 10.8 MB object at 500 queues
    × 2 channels, each scrape paid ~4,000 page faults for memory fresh from the kernel with
    the worker's malloc settings and held the exposition twice (docs/performance.md). Its
    pieces are few (~350 at 500 queues): each family's lines are kept joined in runs
    (:func:`_runs`), so a family with one changed sample is one run joined again, not every
    line sent as a piece (~60,000 pieces in a busy scrape, joined here a chunk at a time:
    ~5 ms of its CPU)."""
    pending: list[bytes] = []
    size = 0
    for part in exposition.parts:
        n = len(part)
        if n >= at_least and not size:
            yield part
            continue
        if not n:
            continue
        pending.append(part)
        size += n
        if size >= at_least:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def render_parts(source: FamilySource) -> Exposition:
    """The text exposition (format 0.0.4) of ``source``'s families and ``cc_build_info`` as
    pieces to concatenate in order (:func:`render` joins them, :func:`chunks` serves them).

    A family whose samples are those it had at the previous render is not written again,
    and of a changed one only the lines of the samples whose value is written differently:
    a gauge's or counter's lines are kept (:func:`_gauge_lines`), a histogram's samples'
    texts too (:func:`_histogram_lines`), each family's joined in runs (:func:`_runs`): an
    unchanged family's pieces are those of its last render, and of a changed one only the
    runs holding a line written again are joined again."""
    parts: list[bytes] = []
    for fam in [*source(), build_info()]:
        if fam.kind != "histogram" and fam.labels:
            try:
                _gauge_lines(fam, parts)
            except (TypeError, OverflowError, ValueError):  # a value that is not a number
                _LINES.pop(fam.name, None)
                parts.append(_cached_text(fam))
        elif not (fam.labels and _histogram_lines(fam, parts)):
            parts.append(_cached_text(fam))
    return Exposition(parts)


#: Family name -> (kind, help, labels, what its samples were, their text in UTF-8) at its last
#: render (:func:`_fingerprint`). Bounded by one exposition: one entry per family name.
_RENDERED: dict[str, tuple[str, str, tuple[str, ...], Any, bytes]] = {}
_NEGATIVE_ZERO = array("d", [-0.0]).tobytes()


def _fingerprint(fam: Family) -> Any:
    """What the text of ``fam`` is a function of, to compare with ``==``; ``None`` when that
    cannot be told cheaply.

    A number is written from its value as a float alone (``_go``: an int is written as
    ``repr(float(value))`` writes it), so a gauge's or counter's samples are known by their
    keys in order and their values' IEEE 754 bits (``-0.0`` and ``0.0`` differ there, as in
    the text). A histogram's by a copy of its samples, compared by value, when no bound or
    sum is ``-0.0`` (the one number equal to another that is written differently; counts
    are integers)."""
    samples = fam.samples
    if fam.kind != "histogram":
        try:
            return list(samples), array("d", samples.values()).tobytes()
        except (TypeError, OverflowError):  # not all numbers, or beyond a float
            return None
    if not _plain_histogram(fam):
        return None
    return {k: (b, list(c), t) for k, (b, c, t) in samples.items()}  # counts: lists


def _plain_histogram(fam: Family) -> bool:
    """Whether no bound or sum of the histogram ``fam`` is -0.0 (and all are numbers)."""
    try:
        numbers = array("d", [total for _, _, total in fam.samples.values()])
        for bounds in {id(v[0]): v[0] for v in fam.samples.values()}.values():
            numbers.extend(bounds)
    except (TypeError, OverflowError, ValueError):
        return False
    packed = numbers.tobytes()
    at = packed.find(_NEGATIVE_ZERO)
    while at >= 0:
        if at % 8 == 0:
            return False
        at = packed.find(_NEGATIVE_ZERO, at + 1)
    return True


def _cached_text(fam: Family) -> bytes:
    """``family_text(fam)`` in UTF-8, reused from the previous render of a family of that
    name when it had the same kind, help, label names and :func:`_fingerprint`."""
    cached = _RENDERED.get(fam.name)
    if cached is not None and not (cached[0] == fam.kind and cached[1] == fam.help
                                   and cached[2] == fam.labels):
        cached = None
    if fam.kind == "histogram":  # compared by value first: a copy is made only when needed
        if cached is not None and cached[3] == fam.samples and _plain_histogram(fam):
            return cached[4]
        found = _fingerprint(fam)
        text = _text_reusing_samples(fam).encode()
    else:  # one without labels, or whose values are not all numbers
        found = _fingerprint(fam)
        if cached is not None and found is not None and cached[3] == found:
            return cached[4]
        text = _text_reusing_samples(fam).encode()
    if found is None:
        _RENDERED.pop(fam.name, None)
    else:
        _RENDERED[fam.name] = (fam.kind, fam.help, fam.labels, found, text)
    return text


def forget() -> None:
    """Drop everything kept from earlier renders (the next render writes every line anew)."""
    _RENDERED.clear()
    _SAMPLES.clear()
    _LINES.clear()
    _HISTOGRAMS.clear()
    _LE_TEXTS.clear()


def family_text(fam: Family) -> str:
    """One family in the text format (its ``# HELP`` and ``# TYPE`` lines first), as
    :func:`render` writes it; the backfill's OpenMetrics writer stamps its sample lines."""
    out: list[str] = []
    _render_family(fam, out)
    return "".join(out)


def _go(value: int | float) -> str:
    """``floatToGoString``, with fast paths for the small whole numbers most samples are and
    for floats below 1e6 (neither NaN nor -Inf), which it writes as ``repr`` does."""
    cls = value.__class__
    if cls is int and -9_007_199_254_740_992 <= value < 1_000_000:
        return f"{value}.0"  # what repr(float(value)) gives for these (exact as floats)
    if cls is float and -math.inf < value < 1_000_000.0:
        return repr(value)
    return floatToGoString(value)


#: (label names, label values) -> the rendered pairs: most series repeat scrape after scrape.
_LABELS: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
_LABELS_MAX = 1_000_000


def _label_text(names: tuple[str, ...], order: list[int], values: tuple[str, ...]) -> str:
    key = (names, values)
    text = _LABELS.get(key)
    if text is None:
        text = ",".join(f'{names[i]}="{_escape_value(values[i])}"' for i in order)
        if len(_LABELS) >= _LABELS_MAX:
            _LABELS.clear()
        _LABELS[key] = text
    return text


def _escape_value(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return value


def _header(fam: Family) -> tuple[str, str]:
    """The sample name of ``fam`` (a counter's ends in ``_total``) and its HELP/TYPE lines."""
    kind = fam.kind
    name = fam.name
    if kind == "counter":
        name = (name[:-6] if name.endswith("_total") else name) + "_total"
    help_text = fam.help.replace("\\", r"\\").replace("\n", r"\n")
    return name, f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"


def _render_family(fam: Family, out: list[str]) -> None:
    name, header = _header(fam)
    out.append(header)
    names = fam.labels
    order = sorted(range(len(names)), key=names.__getitem__)  # labels by name, as the client
    go = _go
    if fam.kind != "histogram":
        append = out.append
        if names:
            for values, value in sorted(fam.samples.items()):
                append(f"{name}{{{_label_text(names, order, values)}}} {go(value)}\n")
        else:
            for value in fam.samples.values():
                append(f"{name} {go(value)}\n")
        return
    le_at = sum(1 for n in names if n < "le")  # "le" takes its place among the label names
    for values, sample in sorted(fam.samples.items()):
        out.append(_histogram_text(name, names, order, le_at, values, sample))


def _histogram_text(name: str, names: tuple[str, ...], order: list[int], le_at: int,
                    values: tuple[str, ...], sample: Any) -> str:
    """The lines of one histogram sample: buckets, ``_count``, ``_sum``."""
    bounds, counts, total = sample
    go = _go
    pairs = [f'{names[i]}="{_escape_value(values[i])}"' for i in order]
    before, after = ",".join(pairs[:le_at]), ",".join(pairs[le_at:])
    head = f"{name}_bucket{{{before}," if before else f"{name}_bucket{{"
    tail = f",{after}}} " if after else "} "
    labels = ",".join(pairs)
    braces = f"{{{labels}}}" if labels else ""
    texts = _running_texts(bounds, counts)
    if texts is not None:  # the common case: whole counts, their bounds' texts kept
        les = _le_texts(bounds)
        out = [f"{head}{le}{tail}{text}\n" for le, text in zip(les, texts, strict=False)]
        out.append(f'{head}le="+Inf"{tail}{texts[-1]}\n'
                   f"{name}_count{braces} {texts[-1]}\n{name}_sum{braces} {go(total)}\n")
        return "".join(out)
    out = []
    running = 0.0
    for bound, n in zip(bounds, counts, strict=False):
        running += n
        out.append(f'{head}le="{go(bound)}"{tail}{go(running)}\n')
    running += counts[-1]
    out.append(f'{head}le="+Inf"{tail}{go(running)}\n')
    out.append(f"{name}_count{braces} {go(running)}\n{name}_sum{braces} {go(total)}\n")
    return "".join(out)


def _running_texts(bounds: Any, counts: Any) -> list[str] | None:
    """``_go`` of the running count after each bucket (``counts``: one per bound and the
    +Inf bucket's last), as the float sums ``0.0 + c0 + c1 …`` write them, from the integer
    sums: when the counts are that many ints ≥ 0 summing below 2**53 the float sums are
    exact, so the same numbers (``_go`` writes an int as the float of its value). None
    otherwise (the caller sums floats)."""
    if len(counts) != len(bounds) + 1 or counts[0].__class__ is not int:
        return None
    sums = list(accumulate(counts))
    last = sums[-1]
    if last.__class__ is not int or last >= 9_007_199_254_740_992 or min(counts) < 0:
        return None
    if last < 1_000_000:
        return [f"{n}.0" for n in sums]  # _go's fast path for ints, inline
    return [_go(n) for n in sums]


#: id(bounds) -> (the bounds, ``le="…"`` of each): a histogram's bounds are one tuple that its
#: samples share (the ledger's), the same at every render.
_LE_TEXTS: dict[int, tuple[tuple[Any, ...], list[str]]] = {}


def _le_texts(bounds: Any) -> list[str]:
    """``le="…"`` of each bound (``_go``), kept for a tuple of bounds (immutable)."""
    found = _LE_TEXTS.get(id(bounds))
    if found is not None and found[0] is bounds:
        return found[1]
    texts = [f'le="{_go(bound)}"' for bound in bounds]
    if bounds.__class__ is tuple:  # kept while it is: its id is not reused meanwhile
        if len(_LE_TEXTS) >= 64:
            _LE_TEXTS.clear()
        _LE_TEXTS[id(bounds)] = (bounds, texts)
    return texts


#: Family name -> (kind, label names, label values -> (value, its line(s))) at its last render
#: by :func:`_text_reusing_samples`; the keys in order of the values, as written.
_SAMPLES: dict[str, tuple[str, tuple[str, ...], dict[Any, tuple[Any, str]]]] = {}


def _same_number(old: Any, new: Any) -> bool:
    """Whether ``new`` is written as ``old`` was, told cheaply: equal and not a float zero
    (``-0.0`` equals ``0.0``); NaN equals nothing."""
    return old == new and (new != 0 or (new.__class__ is int and old.__class__ is int))


def _text_reusing_samples(fam: Family) -> str:
    """``family_text(fam)``, reusing the line(s) of each sample whose value is written as at
    the previous render of this family (:func:`_same_number`; a histogram's counts are
    integers and its bounds the same tuple), and that render's order of the keys when the
    keys are the same."""
    names = fam.labels
    if not names:
        return family_text(fam)
    name, header = _header(fam)
    kind = fam.kind
    samples = fam.samples
    found = _SAMPLES.get(fam.name)
    seen: dict[Any, tuple[Any, str]] = (
        found[2] if found is not None and found[0] == kind and found[1] == names else {})
    keys = list(seen) if samples.keys() == seen.keys() else sorted(samples)
    order = sorted(range(len(names)), key=names.__getitem__)
    now: dict[Any, tuple[Any, str]] = {}
    out = [header]
    if kind != "histogram":
        go = _go
        for values in keys:
            value = samples[values]
            old = seen.get(values)
            if old is not None and old[0] == value and (  # _same_number, inline: per sample
                    value != 0 or (value.__class__ is int and old[0].__class__ is int)):
                line = old[1]
            elif old is not None:  # the labels are those of the old line: keep its text
                line = old[1][:old[1].rindex(" ") + 1] + go(value) + "\n"
            else:
                line = f"{name}{{{_label_text(names, order, values)}}} {go(value)}\n"
            now[values] = (value, line)
            out.append(line)
    else:
        le_at = sum(1 for n in names if n < "le")
        for values in keys:
            bounds, counts, total = samples[values]
            old = seen.get(values)
            if (old is not None and old[0][0] is bounds and old[0][1] == counts
                    and _same_number(old[0][2], total)):
                text = old[1]
            else:
                text = _histogram_text(name, names, order, le_at, values,
                                       (bounds, counts, total))
            now[values] = ((bounds, list(counts), total), text)
            out.append(text)
    _SAMPLES[fam.name] = (kind, names, now)
    return "".join(out)


def _runs(header: bytes, items: list[bytes], runs: list[bytes | None] | None,
          per: int) -> list[bytes]:
    """A family's text as runs: ``header`` and ``items[:per]`` joined, then each ``per``
    items after them joined (``[header]`` when there are none). ``runs``: those of an earlier
    call, each None whose items changed since (joined again here, the others kept), or None
    (all joined). Returns the runs, ``runs`` itself when given (its Nones filled in)."""
    if runs is None:
        runs = [b"".join(items[at:at + per]) for at in range(per, len(items), per)]
        runs.insert(0, b"".join([header, *items[:per]]))
        return runs  # type: ignore[return-value]
    for r, run in enumerate(runs):
        if run is None:
            runs[r] = (b"".join(items[r * per:(r + 1) * per]) if r
                       else b"".join([header, *items[:per]]))
    return runs  # type: ignore[return-value]


class _Lines:
    """A gauge's or counter's lines at its last render by :func:`_gauge_lines`: its samples'
    keys and values in their order, each key's place among the keys sorted (the order
    written), the keys sorted and their lines (UTF-8), and the family's text as runs of
    lines joined (:func:`_runs`)."""

    __slots__ = ("epoch", "header", "help", "index", "journal", "keys", "kind", "lines",
                 "names", "order", "per", "pos", "prefixes", "ranked", "runs", "values")

    def __init__(self, fam: Family, header: bytes, keys: list[Any], values: list[Any],
                 pos: list[int], ranked: list[Any], lines: list[bytes]) -> None:
        self.kind, self.help, self.names, self.header = fam.kind, fam.help, fam.labels, header
        self.keys, self.values, self.pos, self.ranked = keys, values, pos, ranked
        #: None when only ``runs`` holds them (:func:`_all_lines`; :func:`_lines_of`)
        self.lines: list[bytes] | None = lines
        #: the lines joined ``per`` at a time, the header before the first; a None's lines
        #: were written again since; None: none joined yet
        self.runs: list[bytes | None] | None = None
        self.per = RUN_LINES
        #: the family's journal and epoch at this render (:func:`_journaled_lines`)
        self.journal, self.epoch = fam.journal, fam.epoch
        #: each key's place in ``keys`` (made when first needed)
        self.index: dict[Any, int] | None = None
        #: each line's text before its value, and its key's place in ``keys``, in the order
        #: written (made when first needed: :func:`_all_lines`)
        self.prefixes: list[str] | None = None
        self.order: list[int] | None = None


#: Gauge or counter family name (one with labels) -> its :class:`_Lines`.
_LINES: dict[str, _Lines] = {}
#: A line still to write.
_UNWRITTEN = b""


def _same_text(old: Any, new: Any) -> bool:
    """Whether the number ``new`` is written as ``old`` was (equal, and a zero of the same
    sign: ``-0.0`` equals ``0.0``); NaN equals nothing. Exact for numbers: a number is
    written from its value as a float alone (:func:`_fingerprint`)."""
    return old == new and (new != 0 or math.copysign(1.0, old) == math.copysign(1.0, new))


def _number_text(value: Any) -> str:
    """``_go(value)`` of an int or a float; TypeError for anything else (the caller writes
    such a family by the plain path)."""
    cls = value.__class__
    if cls is not int and cls is not float:
        raise TypeError(f"not a number: {value!r}")
    return _go(value)


def _numbers_text(values: list[Any]) -> list[str]:
    """``_number_text`` of each of ``values`` (TypeError for one that is not a number). The
    common case is found and written in C: floats only (not a subclass), none NaN or
    infinite (their sum is finite), all below 1e6 — ``_go`` writes each as ``repr`` does."""
    if values and set(map(type, values)) == _FLOATS:
        total = sum(values)
        if total - total == 0.0 and max(values) < 1_000_000.0:
            return list(map(repr, values))
    return [_number_text(value) for value in values]


_FLOATS = {float}


def _gauge_lines(fam: Family, parts: list[bytes]) -> None:
    """Append ``family_text(fam)`` in UTF-8 to ``parts`` (as runs of its lines joined:
    :func:`_runs`), for a gauge or counter with labels whose values are ints or floats
    (TypeError, OverflowError otherwise, ``parts`` as it was).

    From its previous render (:data:`_LINES`): the samples whose value is not the very object
    it was then are found in C (``map(is_not, ...)``), and of those only the lines of the
    values not written the same (:func:`_same_text`) are written again, keeping the labels
    text of the old line. Keys added after the old ones (a builder adds new keys at the end)
    are merged into the sorted order; any other change of the keys ranks them anew, keeping
    the lines of the values written the same."""
    samples = fam.samples
    kept = _LINES.get(fam.name)
    if kept is not None and not (kept.kind == fam.kind and kept.help == fam.help
                                 and kept.names == fam.labels):
        kept = None
    if kept is not None and _journaled_lines(fam, kept, parts):
        return
    keys = list(samples)
    values = list(samples.values())
    if kept is not None and keys == kept.keys:
        kept.journal, kept.epoch = fam.journal, fam.epoch
        changed = list(compress(range(len(values)), map(is_not, kept.values, values)))
        if changed and len(changed) * 2 > len(values) >= ALL_LINES_FROM:
            _all_lines(kept, values, parts)
            return
        if changed:
            texts = _rewritten(changed, kept.values, values)
            lines = _lines_of(kept)
            pos, runs, per = kept.pos, kept.runs, kept.per
            for i, text in texts:
                p = pos[i]
                line = lines[p]
                lines[p] = line[:line.rindex(b" ") + 1] + text
                if runs is not None:
                    runs[p // per] = None
            kept.values = values
        parts.extend(_runs_of(kept))
        return
    name, header = _header(fam)
    n_old = len(kept.keys) if kept is not None else 0
    if kept is not None and n_old < len(keys) and keys[:n_old] == kept.keys:
        lines, pos, ranked = _merge_added(fam, name, kept, keys, values)
    else:
        lines, pos, ranked = _ranked_anew(fam, name, kept, keys, values)
    kept = _LINES[fam.name] = _Lines(fam, header.encode(), keys, values, pos, ranked, lines)
    parts.extend(_runs_of(kept))


def _written_since(fam: Family, journal: Any, epoch: int) -> list[Collection[Any]] | None:
    """The keys of ``fam`` its journal tells may have been written since a render of it at
    ``journal``'s ``epoch``; None when that is not known (another journal, or none; an
    epoch no longer kept)."""
    if fam.journal is None or fam.journal is not journal:
        return None
    return journal.since(epoch, fam.epoch)


def _journal_changes(fam: Family, kept: _Lines | _Histogram
                     ) -> tuple[list[tuple[Any, int, Any]], list[Any]] | None:
    """What the family's journal says changed since ``kept`` was rendered: ``(key, its
    place in kept.keys, its value now)`` of each written key that was and is a sample, and
    the keys written that are new samples; None when the journal cannot tell or a written
    key is a sample no more (the caller then compares every sample)."""
    written = _written_since(fam, kept.journal, kept.epoch)
    if written is None:
        return None
    index = kept.index
    if index is None:
        index = kept.index = dict(zip(kept.keys, range(len(kept.keys)), strict=True))
    get = fam.samples.get
    changed: list[tuple[Any, int, Any]] = []
    added: dict[Any, None] = {}
    for keys in written:
        for key in keys:
            i = index.get(key)
            value = get(key, _ABSENT)
            if i is None:
                if value is not _ABSENT:
                    added[key] = None
            elif value is _ABSENT:
                return None  # a key gone
            else:
                changed.append((key, i, value))
    return changed, list(added)


def _journaled_lines(fam: Family, kept: _Lines, parts: list[bytes]) -> bool:
    """:func:`_gauge_lines` from the family's journal (:class:`~streams.core.metrics.Journal`):
    only the keys written since the kept render are looked at, the other samples are those
    it wrote; a key added is put in its place (:func:`_insert_sorted`). False when the
    journal cannot tell, or a key went, or the samples are more than the journal told (the
    caller then compares every sample; what was done here is kept consistent: keys, values
    and lines)."""
    found = _journal_changes(fam, kept)
    if found is None:
        return False
    written, added = found
    samples, values, pos, runs, per = fam.samples, kept.values, kept.pos, kept.runs, kept.per
    copysign = math.copysign
    for _, i, value in written:
        was = values[i]
        if was is value:
            continue
        if not (was == value and (value != 0 or copysign(1.0, was) == copysign(1.0, value))):
            lines = _lines_of(kept)
            p = pos[i]
            line = lines[p]
            lines[p] = line[:line.rindex(b" ") + 1] + (_number_text(value) + "\n").encode()
            if runs is not None:
                runs[p // per] = None
        values[i] = value
    if added:
        _add_lines(fam, kept, added)
    if len(kept.keys) != len(samples):
        return False  # changes the journal did not tell
    kept.epoch = fam.epoch
    parts.extend(_runs_of(kept))
    return True


def _add_lines(fam: Family, kept: _Lines, added: list[Any]) -> None:
    """Put the lines of the keys ``added`` (new to ``kept``) in their places, after the kept
    keys in ``kept``'s order."""
    names = fam.labels
    order = sorted(range(len(names)), key=names.__getitem__)
    name = _header(fam)[0]
    samples = fam.samples
    values = [samples[key] for key in added]
    texts = [f"{name}{{{_label_text(names, order, key)}}} {_number_text(value)}\n".encode()
             for key, value in zip(added, values, strict=True)]
    kept.ranked, kept.lines, kept.pos = _insert_sorted(kept.ranked, _lines_of(kept), kept.pos,
                                                       added, texts)
    kept.prefixes = kept.order = kept.runs = None  # the lines after the first added moved
    n = len(kept.keys)
    kept.keys = [*kept.keys, *added]
    kept.values.extend(values)
    if kept.index is not None:
        kept.index.update(zip(added, range(n, n + len(added)), strict=True))


def _all_lines(kept: _Lines, values: list[Any], parts: list[bytes]) -> None:
    """Write every line of ``kept`` anew with ``values`` (its keys' values in ``kept.keys``'
    order) as its runs, appended to ``parts`` (its lines written one by one only when next
    needed: :func:`_lines_of`): cheaper than rewriting most lines one by one (a family that
    moves with the clock)."""
    if kept.prefixes is None or kept.order is None:
        lines = _lines_of(kept)
        kept.prefixes = [line[:line.rindex(b" ") + 1].decode() for line in lines]
        order = [0] * len(lines)
        for i, p in enumerate(kept.pos):
            order[p] = i
        kept.order = order
    texts = _numbers_text(list(map(values.__getitem__, kept.order)))
    lines = list(map(str.__add__, kept.prefixes, texts))
    per = kept.per
    runs: list[bytes | None] = [("\n".join(lines[at:at + per]) + "\n").encode()
                                for at in range(0, len(lines), per)] or [b""]
    runs[0] = kept.header + runs[0]  # type: ignore[operator]
    kept.runs = runs
    kept.lines = None
    kept.values = values
    parts.extend(runs)  # type: ignore[arg-type]


def _lines_of(kept: _Lines) -> list[bytes]:
    """``kept.lines``, written from its prefixes and values when :func:`_all_lines` left
    only the runs."""
    if kept.lines is None:
        assert kept.prefixes is not None and kept.order is not None
        texts = _numbers_text(list(map(kept.values.__getitem__, kept.order)))
        kept.lines = [f"{prefix}{text}\n".encode() for prefix, text
                      in zip(kept.prefixes, texts, strict=True)]
    return kept.lines


#: How many samples a family has at least for :func:`_all_lines` to write it when most changed.
ALL_LINES_FROM = 64

#: Not a sample (:func:`_journaled_lines`).
_ABSENT: Any = object()


def _rewritten(changed: Iterable[int], old: list[Any], new: list[Any]
               ) -> list[tuple[int, bytes]]:
    """``(i, the value's text and newline)`` for the samples ``changed`` whose new value is
    not written as the old one was (:func:`_same_text`, inline: per sample)."""
    out = []
    copysign = math.copysign
    for i in changed:
        value = new[i]
        was = old[i]
        if was == value and (value != 0 or copysign(1.0, was) == copysign(1.0, value)):
            continue
        out.append((i, (_number_text(value) + "\n").encode()))
    return out


def _merge_added(fam: Family, name: str, kept: _Lines, keys: list[Any], values: list[Any]
                 ) -> tuple[list[bytes], list[int], list[Any]]:
    """``(lines, each key's place, the keys sorted)`` for keys that are the kept ones and
    new ones after them: each new key put in its place in the sorted order (bisection), the
    kept lines moved in slices, not written again, but for changed values."""
    n_old = len(kept.keys)
    added = keys[n_old:]
    old_texts = _rewritten(list(compress(range(n_old), map(is_not, kept.values, values))),
                           kept.values, values)
    order_names = sorted(range(len(fam.labels)), key=fam.labels.__getitem__)
    new_lines = [f"{name}{{{_label_text(fam.labels, order_names, key)}}} "
                 f"{_number_text(value)}\n".encode()
                 for key, value in zip(added, values[n_old:], strict=True)]
    ranked, lines, pos = _insert_sorted(kept.ranked, _lines_of(kept), kept.pos, added,
                                        new_lines)
    for i, text in old_texts:
        p = pos[i]
        line = lines[p]
        lines[p] = line[:line.rindex(b" ") + 1] + text
    return lines, pos, ranked


def _insert_sorted(old_ranked: list[Any], old_texts: list[bytes], old_pos: list[int],
                   added: list[Any], added_texts: list[bytes]
                   ) -> tuple[list[Any], list[bytes], list[int]]:
    """``(the keys sorted, their texts, each key's place)`` with the keys ``added`` (after
    the old ones, in that order) put in their places among ``old_ranked`` (the old keys
    sorted, with their texts; ``old_pos``: each old key's place) by bisection: the three
    lists themselves, changed in place (``list.insert`` moves the other entries without
    touching them: a family's thousands of lines are not copied for a few keys)."""
    # (place among the old keys sorted, index among the added) in sorted order
    places = sorted((bisect_left(old_ranked, key), key, j) for j, key in enumerate(added))
    n_old = len(old_ranked)
    for place, key, j in reversed(places):  # from the back: the places ahead hold
        old_ranked.insert(place, key)
        old_texts.insert(place, added_texts[j])
    new_rank: list[int] = []  # an old key's place -> its new place
    added_rank = [0] * len(added)
    at = 0
    for shift, (place, _, j) in enumerate(places):
        new_rank += range(at + shift, place + shift)
        added_rank[j] = place + shift
        at = place
    new_rank += range(at + len(places), n_old + len(places))
    old_pos[:] = map(new_rank.__getitem__, old_pos)
    old_pos += added_rank
    return old_ranked, old_texts, old_pos


def _ranked_anew(fam: Family, name: str, kept: _Lines | None, keys: list[Any],
                 values: list[Any]) -> tuple[list[bytes], list[int], list[Any]]:
    """``(lines, each key's place, the keys sorted)`` with the keys ranked anew, keeping the
    kept line of a key whose value is written the same: the kept order when the keys are
    the kept ones in another order (a builder that fills its samples in another order),
    else the keys sorted."""
    old_value: dict[Any, Any] = {}
    if kept is not None:
        old_value = dict(zip(kept.keys, kept.values, strict=True))
        if old_value.keys() == fam.samples.keys():  # the same keys
            ranked = kept.ranked
            at = dict(zip(ranked, range(len(ranked)), strict=True))
            pos = list(map(at.__getitem__, keys))
            olds = list(map(old_value.__getitem__, keys))
            lines = list(_lines_of(kept))
            for i, new_text in _rewritten(compress(range(len(keys)), map(is_not, olds, values)),
                                          olds, values):
                p = pos[i]
                line = lines[p]
                lines[p] = line[:line.rindex(b" ") + 1] + new_text
            return lines, pos, ranked
    ranked = sorted(keys)
    at = dict(zip(ranked, range(len(ranked)), strict=True))
    pos = list(map(at.__getitem__, keys))
    old_line: dict[Any, bytes] = {}
    if kept is not None:
        old_line = dict(zip(kept.ranked, _lines_of(kept), strict=True))
    names = fam.labels
    order = sorted(range(len(names)), key=names.__getitem__)
    lines = [_UNWRITTEN] * len(ranked)
    for key, p, value in zip(keys, pos, values, strict=True):
        text = _number_text(value)
        old = old_value.get(key, _UNWRITTEN)
        if old is not _UNWRITTEN:
            line = old_line[key]
            lines[p] = line if old is value or _same_text(old, value) else (
                line[:line.rindex(b" ") + 1] + (text + "\n").encode())
        else:
            lines[p] = f"{name}{{{_label_text(names, order, key)}}} {text}\n".encode()
    return lines, pos, ranked


class _Histogram:
    """A histogram's texts at its last render by :func:`_histogram_lines`: its samples' keys
    in their order and copies of their values (counts copied: a builder may change them in
    place), each key's place among the keys sorted, the keys sorted, and each sample's text
    (UTF-8) in that order, joined in runs (:func:`_runs`)."""

    __slots__ = ("epoch", "header", "help", "index", "journal", "keys", "names", "per", "pos",
                 "ranked", "runs", "texts", "values")

    def __init__(self, fam: Family, header: bytes, keys: list[Any], values: list[Any],
                 pos: list[int], ranked: list[Any], texts: list[bytes]) -> None:
        self.help, self.names, self.header = fam.help, fam.labels, header
        self.keys, self.values, self.pos, self.ranked, self.texts = (keys, values, pos, ranked,
                                                                    texts)
        #: as :class:`_Lines`' (:func:`_journaled_histogram`)
        self.journal, self.epoch = fam.journal, fam.epoch
        self.index: dict[Any, int] | None = None
        #: as :class:`_Lines`'
        self.runs: list[bytes | None] | None = None
        self.per = RUN_SAMPLES


def _runs_of(kept: _Lines | _Histogram) -> list[bytes]:
    """``kept.runs`` (:func:`_runs`), those whose lines or samples changed joined again
    (a gauge's lines written from its values first when only its runs hold them)."""
    runs = kept.runs
    if runs is None or None in runs:
        items = _lines_of(kept) if isinstance(kept, _Lines) else kept.texts
        runs = kept.runs = _runs(kept.header, items, runs, kept.per)
    return runs  # type: ignore[return-value]


#: Histogram family name (one with labels) -> its :class:`_Histogram`.
_HISTOGRAMS: dict[str, _Histogram] = {}


def _histogram_lines(fam: Family, parts: list[bytes]) -> bool:
    """Append ``family_text(fam)`` in UTF-8 to ``parts`` for a histogram with labels and no
    bound or sum -0.0 (:func:`_plain_histogram`; False, nothing appended, otherwise), writing
    again only the samples that differ from the kept copies of the previous render's: found
    in C (``map(ne, ...)``: bounds, counts and sum compared by value, which tells their text
    apart when no number is -0.0). Keys other than the kept ones, in their order, are ranked
    anew."""
    kept = _HISTOGRAMS.get(fam.name)
    if kept is not None and (kept.help != fam.help or kept.names != fam.labels):
        kept = None
    if kept is not None and _journaled_histogram(fam, kept, parts):
        return True
    if not _plain_histogram(fam):
        _HISTOGRAMS.pop(fam.name, None)
        return False
    samples = fam.samples
    keys = list(samples)
    values = list(samples.values())
    names = fam.labels
    name, header = _header(fam)
    order = sorted(range(len(names)), key=names.__getitem__)
    le_at = sum(1 for n in names if n < "le")
    n_old = len(kept.keys) if kept is not None else 0
    if kept is not None and n_old <= len(keys) and (
            keys == kept.keys if n_old == len(keys) else keys[:n_old] == kept.keys):
        # the kept keys, and maybe new ones after them (a builder adds new keys at the end)
        kept.journal, kept.epoch = fam.journal, fam.epoch
        if n_old < len(keys):
            kept.index = None
        changed = list(compress(range(n_old), map(ne, kept.values, values)))
        texts, pos, copies, runs, per = kept.texts, kept.pos, kept.values, kept.runs, kept.per
        for i in changed:
            bounds, counts, total = values[i]
            texts[pos[i]] = _histogram_text(name, names, order, le_at, keys[i],
                                            (bounds, counts, total)).encode()
            copies[i] = (bounds, list(counts), total)
            if runs is not None:
                runs[pos[i] // per] = None
        if n_old < len(keys):
            added = keys[n_old:]
            added_texts = [_histogram_text(name, names, order, le_at, key, value).encode()
                           for key, value in zip(added, values[n_old:], strict=True)]
            kept.ranked, kept.texts, kept.pos = _insert_sorted(kept.ranked, texts, pos, added,
                                                               added_texts)
            kept.keys = keys
            kept.runs = None  # the texts after the first added moved
            copies.extend((b, list(c), t) for b, c, t in values[n_old:])
        parts.extend(_runs_of(kept))
        return True
    ranked = sorted(keys)
    at = dict(zip(ranked, range(len(ranked)), strict=True))
    pos = list(map(at.__getitem__, keys))
    old: dict[Any, tuple[Any, bytes]] = {}
    if kept is not None:
        old = {k: (v, kept.texts[p])
               for k, v, p in zip(kept.keys, kept.values, kept.pos, strict=True)}
    texts = [b""] * len(ranked)
    copies = []
    for key, p, (bounds, counts, total) in zip(keys, pos, values, strict=True):
        found = old.get(key)
        if found is not None and found[0] == (bounds, counts, total):
            texts[p] = found[1]
        else:
            texts[p] = _histogram_text(name, names, order, le_at, key,
                                       (bounds, counts, total)).encode()
        copies.append((bounds, list(counts), total))
    kept = _HISTOGRAMS[fam.name] = _Histogram(fam, header.encode(), keys, copies, pos, ranked,
                                              texts)
    parts.extend(_runs_of(kept))
    return True


def _journaled_histogram(fam: Family, kept: _Histogram, parts: list[bytes]) -> bool:
    """:func:`_histogram_lines` from the family's journal, as :func:`_journaled_lines` does
    for a gauge: only the keys written since the kept render are compared and written. False
    when the journal cannot tell, a key went, the samples are more than the journal told, or
    a sample written has a bound or sum -0.0 (the caller then compares every sample; what
    was done here is kept consistent)."""
    found = _journal_changes(fam, kept)
    if found is None:
        return False
    written, new_keys = found
    samples, copies, texts, pos, runs = fam.samples, kept.values, kept.texts, kept.pos, kept.runs
    names = fam.labels
    name = _header(fam)[0]
    order = sorted(range(len(names)), key=names.__getitem__)
    le_at = sum(1 for n in names if n < "le")
    for key, i, value in written:
        if not _plain_sample(value, copies[i][0]):
            return False  # (first: -0.0 equals 0.0 but is written otherwise)
        if copies[i] == value:
            continue
        bounds, counts, total = value
        texts[pos[i]] = _histogram_text(name, names, order, le_at, key,
                                        (bounds, counts, total)).encode()
        copies[i] = (bounds, list(counts), total)
        if runs is not None:
            runs[pos[i] // kept.per] = None
    if new_keys:
        values = [samples[key] for key in new_keys]
        if not all(_plain_sample(value, None) for value in values):
            return False
        new_texts = [_histogram_text(name, names, order, le_at, key, value).encode()
                     for key, value in zip(new_keys, values, strict=True)]
        kept.ranked, kept.texts, kept.pos = _insert_sorted(kept.ranked, texts, pos, new_keys,
                                                           new_texts)
        assert kept.index is not None  # made by _journal_changes
        kept.index.update(zip(new_keys, range(len(kept.keys), len(kept.keys) + len(new_keys)),
                              strict=True))
        kept.keys = [*kept.keys, *new_keys]
        kept.runs = None  # the texts after the first added moved
        copies.extend((b, list(c), t) for b, c, t in values)
    if len(kept.keys) != len(samples):
        return False  # changes the journal did not tell
    kept.epoch = fam.epoch
    parts.extend(_runs_of(kept))
    return True


def _plain_sample(value: Any, bounds_seen: Any) -> bool:
    """Whether the histogram sample ``value`` (bounds, counts, sum) has no bound or sum
    -0.0 (:func:`_plain_histogram`), its bounds looked at only when they are not the very
    ``bounds_seen`` (looked at before)."""
    bounds, _, total = value
    try:
        if total == 0 and math.copysign(1.0, total) < 0:
            return False
        if bounds is not bounds_seen:
            return not any(b == 0 and math.copysign(1.0, b) < 0 for b in bounds)
    except TypeError:
        return False
    return True
