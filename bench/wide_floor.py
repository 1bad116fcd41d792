"""The benches' wide floor: 500 queues on voice and chat, 1,500 agents (bench_side_by_side's
scrape stage, bench_scrape, bench_memory --scenario wide). Its own module, so that a bench
using it imports no Kafka client (bench_memory's RSS column would count it)."""

from __future__ import annotations

from streams.simulate.model import AgentGroup, ContactStream, Scenario
from streams.simulate.scenarios import FLAT_PEAK


def wide_scenario(queues: int = 500, per_group: int = 10) -> Scenario:
    """``queues`` queues, each on voice and chat; agent groups of 30 serving ``per_group``
    queues each (about 80 % occupied)."""
    names = [f"q{i:03d}" for i in range(queues)]
    streams = []
    for name in names:
        streams.append(ContactStream(name, "voice", 20, 240, patience_mean_seconds=240,
                                     acw_mean_seconds=20))
        streams.append(ContactStream(name, "chat", 20, 300, patience_mean_seconds=300,
                                     acw_mean_seconds=20))
    groups = tuple(AgentGroup(f"g{g:03d}", 30, tuple(names[g * per_group:(g + 1) * per_group]),
                              follows_profile=False)
                   for g in range(queues // per_group))
    return Scenario(name="wide", contact_streams=tuple(streams), agent_groups=groups,
                    profile=FLAT_PEAK)
