"""A worker builds engines and applies events only for the assignment it was given, once that
assignment's own recovery has completed, never in the gap between a revoke and the next
assignment (``Pipeline._wanted_engines``, ``Pipeline._on_assigned``).

In that gap Faust's own flags can say "recovered, not rebalancing" (a recovery of the earlier
generation finishing late), and the assignor still lists the old assignment. An engine built
then, from a table this worker stops keeping up to date, stayed in the worker's engines while
the partition went to another worker; had the partition come back, that engine would have
been used as it was, missing everything the other worker applied meanwhile (lost events), and
a record it wrote at its rebuild could have reached a changelog another worker owned.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from faust.types import TP

from streams.core.config import parse_config
from streams.worker.app import Pipeline, build_pipeline

CALLS_0 = ("cc.calls", 0)
CALLS_1 = ("cc.calls", 1)


def pipeline_at(tmp_path: Path, generation: int) -> Pipeline:
    """A worker whose tables Faust says are recovered and whose assignor lists cc.calls-0."""
    pipeline = build_pipeline(parse_config({"worker": {"data_dir": str(tmp_path)}}))
    pipeline.app.consumer_generation_id = generation
    pipeline.recovered = lambda: True  # type: ignore[method-assign]
    pipeline.active_partitions = lambda: {CALLS_0}  # type: ignore[method-assign]

    async def nothing_to_write(tps: object) -> int:
        return 0

    pipeline._checkpoint_and_snapshot = nothing_to_write  # type: ignore[method-assign]
    return pipeline


def faust_tp(pipeline: Pipeline, tp: tuple[str, int]) -> TP:
    return TP(pipeline.prefix + tp[0], tp[1])


def test_no_engine_is_wanted_before_the_first_assignment(tmp_path: Path) -> None:
    pipeline = pipeline_at(tmp_path, generation=1)
    assert pipeline._wanted_engines() == set()
    pipeline.app.consumer_generation_id = 1
    asyncio.run(pipeline._on_assigned())
    assert pipeline._wanted_engines() == {CALLS_0}


def test_between_a_revoke_and_the_next_assignment_nothing_is_built_or_applied(
        tmp_path: Path) -> None:
    pipeline = pipeline_at(tmp_path, generation=3)
    asyncio.run(pipeline._on_assigned())
    state = pipeline.state
    state._install(CALLS_0, state._new_engine(CALLS_0))
    assert asyncio.run(pipeline._engine_built(faust_tp(pipeline, CALLS_0))) is True
    state.last_offsets[CALLS_0] = 17

    asyncio.run(pipeline._on_revoked(revoked=[faust_tp(pipeline, CALLS_0)]))
    assert CALLS_0 not in state.engines
    assert CALLS_0 not in state.last_offsets  # the next owner resumes at the group's commit
    # Faust's flags still say recovered and the assignor still lists the old assignment
    assert pipeline.recovered() and pipeline.active_partitions() == {CALLS_0}
    assert pipeline._wanted_engines() == set()
    assert pipeline.engines_built()  # nothing to build: the engine builder waits
    assert asyncio.run(pipeline._engine_built(faust_tp(pipeline, CALLS_0))) is False


def test_an_engine_built_between_assignments_is_dropped_with_its_unwritten_records(
        tmp_path: Path) -> None:
    pipeline = pipeline_at(tmp_path, generation=3)
    asyncio.run(pipeline._on_assigned())
    asyncio.run(pipeline._on_revoked(revoked=[faust_tp(pipeline, CALLS_0)]))
    state = pipeline.state
    # built in the gap: an engine of a partition the worker no longer owns, with a record
    # its rebuild wrote (a retirement), beside a record of another partition still to write
    state._install(CALLS_1, state._new_engine(CALLS_1))
    state.pending["cc.calls"][b"stale"] = (1, {"kind": "call"})
    state.pending["cc.calls"][b"other"] = (2, {"kind": "call"})
    state.last_offsets[CALLS_1] = 41

    pipeline.app.consumer_generation_id = 4
    asyncio.run(pipeline._on_assigned())

    assert state.engines == {}
    assert state.pending["cc.calls"] == {b"other": (2, {"kind": "call"})}
    assert CALLS_1 not in state.last_offsets
    assert pipeline._wanted_engines() == {CALLS_0}  # built afresh for the new assignment


def test_an_assignment_counts_as_recovered_only_once_its_own_recovery_completes(
        tmp_path: Path) -> None:
    pipeline = build_pipeline(parse_config({"worker": {"data_dir": str(tmp_path)}}))
    recovery = pipeline.app.tables.recovery
    # set by an earlier generation's recovery that finished inside this rebalance, which
    # also cleared "rebalancing"
    recovery.completed.set()
    pipeline.app.rebalancing = False
    pipeline.app.consumer_generation_id = 5
    asyncio.run(pipeline._on_assigned())
    assert not pipeline.recovered()
    assert pipeline._wanted_engines() == set()
    assert not pipeline.readiness().checks["recovered"]
    recovery.completed.set()  # this generation's recovery, done
    assert pipeline.recovered()


def test_a_batch_of_an_assigned_partition_waits_through_its_recovery_for_its_engine(
        tmp_path: Path) -> None:
    pipeline = pipeline_at(tmp_path, generation=6)
    asyncio.run(pipeline._on_assigned())
    recovered = [False]
    pipeline.recovered = lambda: recovered[0]  # type: ignore[method-assign]
    tp = faust_tp(pipeline, CALLS_0)

    async def scenario() -> bool:
        waiting = asyncio.ensure_future(pipeline._engine_built(tp))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # not refused while its recovery runs: it would be skipped
        recovered[0] = True
        pipeline.state._install(CALLS_0, pipeline.state._new_engine(CALLS_0))
        return await asyncio.wait_for(waiting, timeout=2)

    assert asyncio.run(scenario()) is True
