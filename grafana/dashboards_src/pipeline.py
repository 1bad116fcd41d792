"""Pipeline health (``ccpulse-pipeline``): is the stream processor keeping up and trustworthy?

Workers, throughput, rejected events (invalid, duplicate, late, stale), event lag, data age
per topic, Kafka consumer lag, the exporter's own scrape size and duration, and where the
workers keep their entities (memory or the local store) with what RocksDB's cache holds.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode

from . import panels
from .common import (
    AMBER,
    GREEN,
    RED,
    TOPIC,
    finish,
    label_variable,
    quantile,
    query,
    row,
    skeleton,
    steps,
)
from .wallboard import DATA_AGE_AMBER_S, DATA_AGE_RED_S, data_age

UID = "ccpulse-pipeline"

JOB = 'job="ccpulse"'
RATE = "[$__rate_interval]"
INVALID_AMBER, INVALID_RED = 0.001, 0.01
LAG_AMBER_MESSAGES, LAG_RED_MESSAGES = 1_000, 10_000


def build() -> model.Dashboard:
    board = skeleton(
        UID,
        "ccpulse - Pipeline health",
        area="pipeline",
        description="Workers, throughput, rejected events, lag and freshness of the ccpulse "
        "stream processor.",
        refresh="30s",
        time_from="now-3h",
    ).with_variable(label_variable("topic", "Topic", "label_values(cc_events_total, topic)"))
    for panel in status():
        board = board.with_panel(panel)
    for title, contents in (
        ("Throughput", throughput()),
        ("Rejected events", rejected()),
        ("Lag and freshness", lag()),
        ("Exporter", exporter()),
        ("State and memory", state()),
    ):
        board = board.with_row(row(title))
        for panel in contents:
            board = board.with_panel(panel)
    return finish(board)


def status() -> list[panels.Panel]:
    events = f"sum(rate(cc_events_total{{{TOPIC}}}{RATE}))"
    invalid = f"sum(rate(cc_events_invalid_total{{{TOPIC}}}{RATE}))"
    return [
        panels.big_stat(
            "Workers up",
            query(f"sum(up{{{JOB}}}) or vector(0)", "up", "A", instant=True),
            unit="none",
            thresholds=steps(RED, (1, GREEN)),
            w=3,
            h=4,
            description="Scrape targets of job ccpulse that answered the last scrape.",
        ),
        panels.big_stat(
            "Workers down",
            query(f"count(up{{{JOB}}} == 0) or vector(0)", "down", "A", instant=True),
            unit="none",
            thresholds=steps(GREEN, (1, RED)),
            w=3,
            h=4,
            description="Scrape targets of job ccpulse that did not answer the last scrape.",
        ),
        data_age().description(
            "Now minus the event time of the newest event processed, any topic. NO DATA: no "
            "worker exports it."
        ),
        panels.big_stat(
            "Events/s",
            query(events, "events/s", instant=True),
            unit="none",
            decimals=1,
            w=4,
            h=4,
            description="Valid events processed per second.",
        ),
        panels.big_stat(
            "Invalid share",
            query(f"{invalid} / ({events} + {invalid})", "invalid", instant=True),
            unit="percentunit",
            decimals=2,
            thresholds=steps(GREEN, (INVALID_AMBER, AMBER), (INVALID_RED, RED)),
            w=4,
            h=4,
            description="Invalid / (valid + invalid) events: they go to the dead-letter topic.",
        ),
        panels.big_stat(
            "Consumer lag",
            query(f"sum(cc_consumer_lag_messages{{{TOPIC}}})", "messages", instant=True),
            unit="none",
            thresholds=steps(GREEN, (LAG_AMBER_MESSAGES, AMBER), (LAG_RED_MESSAGES, RED)),
            w=4,
            h=4,
            description="Messages not yet consumed, all partitions.",
        ),
    ]


def per_second(title: str, metric: str, by: str, w: int, description: str) -> panels.Panel:
    legend = " ".join(f"{{{{{label.strip()}}}}}" for label in by.split(","))
    return panels.graph(
        title,
        query(f"sum by ({by}) (rate({metric}{{{TOPIC}}}{RATE}))", legend),
        unit="none",
        w=w,
        h=8,
        description=description,
    )


def throughput() -> list[panels.Panel]:
    return [
        per_second("Events/s by topic", "cc_events_total", "topic", 12, "Valid events processed."),
        per_second("Events/s by type", "cc_events_total", "type", 12, "Valid events processed."),
    ]


def rejected() -> list[panels.Panel]:
    return [
        per_second(
            "Invalid events/s",
            "cc_events_invalid_total",
            "topic, reason",
            6,
            "Sent to the dead-letter topic, by reason.",
        ),
        per_second(
            "Duplicate events/s",
            "cc_events_duplicate_total",
            "topic",
            6,
            "event_ids seen before, dropped (redeliveries, rebalances, producer retries).",
        ),
        per_second(
            "Late events/s",
            "cc_events_late_total",
            "topic",
            6,
            "Events older than the state retention: counted, not booked.",
        ),
        panels.graph(
            "Stale contacts dropped/s",
            query(f"sum by (queue) (rate(cc_contacts_stale_total{RATE}))", "{{queue}}"),
            unit="none",
            w=6,
            h=8,
            description="Waiting contacts dropped without an outcome after stale_after_seconds: "
            "usually lost answer/abandon events.",
        ),
    ]


def lag() -> list[panels.Panel]:
    age = panels.graph(
        "Data age by topic",
        query(f"time() - max by (topic) (cc_last_event_timestamp_seconds{{{TOPIC}}})", "{{topic}}"),
        unit="s",
        w=8,
        h=8,
        description="Now minus the newest event time per topic. A quiet topic ages too: "
        "compare with its usual traffic.",
    )
    return [
        panels.graph(
            "Event lag (processing - event time)",
            query(quantile(0.5, "cc_event_lag_seconds", TOPIC), "p50", "A"),
            query(quantile(0.9, "cc_event_lag_seconds", TOPIC), "p90", "B"),
            query(quantile(0.99, "cc_event_lag_seconds", TOPIC), "p99", "C"),
            unit="s",
            w=12,
            h=8,
            description="From the cc_event_lag_seconds histogram: how long after it happened an "
            "event was processed (producer delay + Kafka + processing).",
        ),
        panels.graph(
            "Event lag p99 by topic",
            query(quantile(0.99, "cc_event_lag_seconds", TOPIC, "topic"), "{{topic}}"),
            unit="s",
            w=12,
            h=8,
            description="The slowest 1 % per topic.",
        ),
        age.thresholds(
            steps(GREEN, (DATA_AGE_AMBER_S, AMBER), (DATA_AGE_RED_S, RED))
        ).thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)),
        panels.graph(
            "Consumer lag by topic",
            query(f"sum by (topic) (cc_consumer_lag_messages{{{TOPIC}}})", "{{topic}}"),
            unit="none",
            w=8,
            h=8,
            description="Messages behind the log end, per topic. Growing: workers cannot keep up.",
        ),
        panels.graph(
            "Consumer lag, 10 worst partitions",
            query(
                f"topk(10, max by (topic, partition) (cc_consumer_lag_messages{{{TOPIC}}}))",
                "{{topic}}/{{partition}}",
            ),
            unit="none",
            w=8,
            h=8,
            description="One hot partition: a skewed key, or a stuck worker owning it.",
        ),
    ]


def state() -> list[panels.Panel]:
    return [
        panels.graph(
            "Entities by where their record is",
            query(f"sum by (where) (cc_entities{{{JOB}}})", "{{where}}"),
            unit="none",
            w=12,
            h=7,
            description="Contacts, tickets, agents, customers and feedback the workers keep. "
            "memory: as objects (contacts of the last 48 h, agents, open tickets and those "
            "solved within a day, customers active in the last day: flat on a steady floor); "
            "frozen: idle, in memory until a checkpoint writes them (near 0); disk: idle, or "
            "not read since a restart, only in the local store (RocksDB), read back when an "
            "event needs them: grows with the retention windows (tickets 30 days, customers "
            "13 months), then levels off.",
        ),
        panels.graph(
            "Local store memory by worker",
            query(f"cc_local_store_memory_bytes{{{JOB}}}", "{{instance}}"),
            unit="bytes",
            w=12,
            h=7,
            description="RocksDB's block cache and memtables, shared by every local store of "
            "a worker: bounded by its budget (64 MiB), whatever the partitions and the data "
            "on disk.",
        ),
    ]


def exporter() -> list[panels.Panel]:
    return [
        panels.graph(
            "Scrape success by worker",
            query(f"up{{{JOB}}}", "{{instance}}"),
            unit="none",
            max_value=1,
            w=8,
            h=7,
            description="1 when the last scrape of the worker's /metrics succeeded.",
        ),
        panels.graph(
            "Series per scrape",
            query(f"scrape_samples_scraped{{{JOB}}}", "{{instance}}"),
            unit="none",
            w=8,
            h=7,
            description="Samples exported by each worker: label cardinality (queues are capped "
            "at max_queues).",
        ),
        panels.graph(
            "Scrape duration",
            query(f"scrape_duration_seconds{{{JOB}}}", "{{instance}}"),
            unit="s",
            w=8,
            h=7,
            description="Time to render /metrics; near the scrape timeout, scrapes fail.",
        ),
        panels.big_stat(
            "Versions running",
            query("count by (version) (cc_build_info)", "{{version}}", instant=True),
            unit="none",
            names=True,
            side_by_side=True,
            w=24,
            h=3,
            description="Workers per ccpulse version: more than one during a rolling deploy.",
        ),
    ]
