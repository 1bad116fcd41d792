"""Prometheus exposition of the KPI families (docs/contract.md §4).

One custom collector turns the core's plain :class:`~streams.core.metrics.Family` values into
prometheus-client metric families. It reads one consistent snapshot per scrape (the source
callable runs synchronously on the event loop, between two events), registers on the registry
it is given, and has a ``describe()`` that never touches live state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
        out: Metric = CounterMetricFamily(fam.name, fam.help, labels=labels)
        for lv, value in sorted(fam.samples.items()):
            out.add_metric(list(lv), value)
    elif fam.kind == "gauge":
        out = GaugeMetricFamily(fam.name, fam.help, labels=labels)
        for lv, value in sorted(fam.samples.items()):
            out.add_metric(list(lv), value)
    else:
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


def render(source: FamilySource) -> bytes:
    """The text exposition of ``source`` on a fresh registry."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KpiCollector(source))
    return generate_latest(registry)
