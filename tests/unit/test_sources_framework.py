"""The connector framework (streams/sources): resumable reading, checkpoints, the pump loop.

A toy mapper (one CSV-ish line -> one ``call.queued``) stands in for a real system; every
behaviour pinned here is shared by all connectors.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.sources.base import IDLE, Connector, Record, Skipped, StatelessMapper, stable_id
from streams.sources.checkpoint import CheckpointStore
from streams.sources.files import read_lines
from streams.sources.run import format_summary, pump
from streams.sources.sinks import FileSink


class LineMapper(StatelessMapper):
    """``TIME,CALL,QUEUE`` -> call.queued; ``#...`` is ignored; ``boom`` raises."""

    def map(self, record: Record) -> list[dict[str, Any] | Skipped]:
        if record.data.startswith("#"):
            return [Skipped("ignored:comment", "a comment line")]
        if record.data == "boom":
            raise ValueError("mapper bug")
        at, call, queue = record.data.split(",")
        return [{"event_id": stable_id("toy", record.data), "type": "call.queued",
                 "occurred_at": at, "call_id": call, "queue": queue}]


class CountingMapper(LineMapper):
    """Remembers how many calls it mapped (state survives a restart through the checkpoint)."""

    def __init__(self) -> None:
        self.seen = 0

    def map(self, record: Record) -> list[dict[str, Any] | Skipped]:
        out = super().map(record)
        self.seen += 1
        return out

    def state(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.seen = int(state.get("seen", 0))


def _line(second: int, call: str, queue: str = "sales") -> str:
    return f"2026-11-22T09:00:{second:02d}Z,{call},{queue}\n"


def _connector(path: Path, mapper: Any = None) -> Connector:
    return Connector("toy", str(path), lambda position: read_lines([path], position),
                     mapper or LineMapper())


def _run(connector: Connector, store: CheckpointStore | None = None) -> tuple[Any, list[dict]]:
    out = io.BytesIO()
    report = asyncio.run(pump(connector, FileSink(out, "memory"), store))
    return report, [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_every_record_is_sent_or_skipped_with_a_counted_reason(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("# header\n" + _line(1, "c1") + _line(2, "c2", queue="") + "boom\n")
    report, events = _run(_connector(source))
    assert [e["call_id"] for e in events] == ["c1"]
    assert report.records == 4
    assert report.skipped == {"ignored:comment": 1, "invalid_event:out_of_range": 1,
                              "mapper_error": 1}
    summary = format_summary(_connector(source), report, "memory")
    assert "read 4 records" in summary and "sent 1 event to memory" in summary
    assert f"{source}:3: call.queued: field 'queue' is an empty string" in summary
    assert "ValueError: mapper bug" in summary


def test_the_same_input_read_twice_gives_the_same_event_ids(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text(_line(1, "c1") + _line(2, "c2"))
    _, first = _run(_connector(source))
    _, second = _run(_connector(source))
    assert first == second
    assert len({e["event_id"] for e in first}) == 2


def test_a_restart_resumes_after_the_checkpoint_with_the_mapper_state(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text(_line(1, "c1") + _line(2, "c2"))
    store = CheckpointStore(tmp_path / "cp", "toy", str(source), "file:x")
    mapper = CountingMapper()
    _run(_connector(source, mapper), store)
    with source.open("a") as f:
        f.write(_line(3, "c3"))
    again = CountingMapper()
    report, events = _run(_connector(source, again), store)
    assert report.resumed
    assert [e["call_id"] for e in events] == ["c3"]
    assert again.seen == 3  # 2 restored + 1 new


def test_a_checkpoint_of_another_input_or_target_is_not_used(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text(_line(1, "c1"))
    CheckpointStore(tmp_path, "toy", str(source), "file:a").save(
        {"path": str(source), "inode": os.stat(source).st_ino, "offset": 999}, {}, {})
    assert CheckpointStore(tmp_path, "toy", str(source), "file:b").load() is None
    assert CheckpointStore(tmp_path, "toy", "other", "file:a").load() is None
    assert CheckpointStore(tmp_path, "toy", str(source), "file:a").load() is not None


def test_a_replaced_or_shorter_file_is_read_from_its_start(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text(_line(1, "c1") + _line(2, "c2"))
    position = {"path": str(source), "inode": os.stat(source).st_ino, "offset": 10_000}
    lines = [r.data for r in read_lines([source], position) if isinstance(r, Record)]
    assert len(lines) == 2  # shorter than the saved offset: truncated, start again
    end = [r for r in read_lines([source], None) if isinstance(r, Record)][-1].position
    source.unlink()
    source.write_text(_line(3, "c3"))  # same path, new file (new inode)
    lines = [r.data for r in read_lines([source], end) if isinstance(r, Record)]
    assert lines == [_line(3, "c3").rstrip("\n")]


def test_a_followed_file_yields_idle_and_waits_for_a_complete_line(tmp_path: Path) -> None:
    source = tmp_path / "log"
    source.write_text(_line(1, "c1") + "2026-11-22T09:00:02Z,c2")  # half-written line
    reader = read_lines([source], None, follow=True)
    first = next(reader)
    assert isinstance(first, Record) and first.data.endswith("c1,sales")
    assert next(reader) is IDLE
    with source.open("a") as f:
        f.write(",sales\n")
    second = next(reader)
    assert isinstance(second, Record) and second.data == "2026-11-22T09:00:02Z,c2,sales"
    assert second.where == f"{source}:2"


def test_a_followed_file_goes_on_through_a_rotation(tmp_path: Path) -> None:
    source = tmp_path / "queue_log"
    source.write_text(_line(1, "c1"))
    reader = read_lines([source], None, follow=True)
    assert isinstance(next(reader), Record)
    assert next(reader) is IDLE
    with source.open("a") as f:
        f.write(_line(2, "c2"))
    source.rename(tmp_path / "queue_log.1")  # logrotate: rename, then a new file
    assert isinstance(next(reader), Record)  # the old file's tail is read first
    source.write_text(_line(3, "c3"))
    records = []
    for item in reader:
        if isinstance(item, Record):
            records.append(item)
            break
    assert records[0].data.endswith("c3,sales") and records[0].position["offset"] == len(
        _line(3, "c3"))


def test_a_followed_file_that_is_truncated_is_read_again_from_its_start(tmp_path: Path) -> None:
    source = tmp_path / "queue_log"
    source.write_text(_line(1, "c1") + _line(2, "c2"))
    reader = read_lines([source], None, follow=True)
    assert [type(next(reader)) for _ in range(2)] == [Record, Record]
    assert next(reader) is IDLE
    source.write_text(_line(3, "c3"))  # copytruncate
    item = next(reader)
    while item is IDLE:
        item = next(reader)
    assert isinstance(item, Record) and item.data.endswith("c3,sales")


def test_several_files_resume_in_the_file_the_checkpoint_names(tmp_path: Path) -> None:
    one, two = tmp_path / "a", tmp_path / "b"
    one.write_text(_line(1, "c1"))
    two.write_text(_line(2, "c2") + _line(3, "c3"))
    records = [r for r in read_lines([one, two], None) if isinstance(r, Record)]
    resumed = [r.data for r in read_lines([one, two], records[1].position)
               if isinstance(r, Record)]
    assert resumed == [_line(3, "c3").rstrip("\n")]


def test_the_checkpoint_is_saved_only_after_the_sink_confirmed(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("".join(_line(s, f"c{s}") for s in range(5)))
    store = CheckpointStore(tmp_path / "cp", "toy", str(source), "file:x")
    saved_when: list[int] = []

    class Recording(FileSink):
        def __init__(self) -> None:
            super().__init__(io.BytesIO(), "memory")
            self.sent = 0
            self.confirmed = 0

        async def send(self, event: dict[str, Any]) -> None:
            self.sent += 1

        async def flush(self) -> None:
            self.confirmed = self.sent
            saved = store.load()
            saved_when.append(0 if saved is None else saved["counts"]["sent"])

    sink = Recording()
    asyncio.run(pump(_connector(source), sink, store, checkpoint_every=2))
    final = store.load()
    assert final is not None and final["counts"]["sent"] == 5 == sink.confirmed
    # every checkpoint on disk before a flush covered no more than was confirmed then
    assert saved_when == sorted(saved_when) and saved_when[0] == 0


def test_an_event_far_in_the_future_is_skipped_by_the_engines_own_rule(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("2099-01-01T00:00:00Z,c1,sales\n")
    report, events = _run(_connector(source))
    assert events == [] and report.skipped == {"invalid_event:future_timestamp": 1}


@pytest.mark.parametrize("parts", [("a",), ("a", "b"), ("x" * 500,)])
def test_stable_ids_fit_the_contract_and_depend_only_on_their_parts(parts: tuple) -> None:
    assert stable_id("ast", *parts) == stable_id("ast", *parts)
    assert len(stable_id("ast", *parts)) <= 128
    assert stable_id("ast", *parts) != stable_id("zd", *parts)


def test_the_first_skip_of_each_reason_is_said_at_once_not_only_in_the_summary(
        tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("# a\n" + _line(1, "c1", queue="") + _line(2, "c2", queue=""))
    err = io.StringIO()
    asyncio.run(pump(_connector(source), FileSink(io.BytesIO(), "memory"), None, err=err))
    said = err.getvalue().splitlines()
    assert said == [f"connect toy: skipping invalid_event:out_of_range: {source}:2: call.queued: "
                    "field 'queue' is an empty string (counted; later ones are only in the "
                    "summary)"]


def test_a_missing_input_is_one_line_and_leaves_the_output_file_untouched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streams.cli import main

    out = tmp_path / "events.jsonl"
    out.write_text("earlier\n")
    missing = tmp_path / "queue_log"
    status = main(["connect", "asterisk", "--queue-log", str(missing), "--to", str(out),
                   "--checkpoint-dir", str(tmp_path / "cp")])
    assert status == 1
    assert capsys.readouterr().err == f"Error: '{missing}' does not exist; check the path\n"
    assert out.read_text() == "earlier\n"
