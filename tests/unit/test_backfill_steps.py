"""``ccpulse backfill``: step boundaries, the snapshot = replay --as-of equality, disorder,
gzip input, and OpenMetrics output that promtool imports."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from streams.backfill import (
    PROGRESS_EVERY_S,
    BackfillResult,
    DayFiles,
    Progress,
    backfill_streams,
    first_boundary,
    open_archive,
    snapshot_families,
)
from streams.core.config import Config
from streams.core.metrics import Family, new_family
from streams.core.timestamps import parse_us
from streams.exporter import render
from streams.openmetrics import header, samples, timestamp_text
from streams.replay import replay_streams

MINUTE_US = 60_000_000
CONFIG = Config()


def event(n: int, kind: str, at: str, call: str, **extra: str) -> bytes:
    fields = "".join(f',"{k}":"{v}"' for k, v in extra.items())
    return (f'{{"event_id":"e{n}","type":"call.{kind}","occurred_at":"2026-11-22T{at}Z",'
            f'"call_id":"{call}","queue":"sales"{fields}}}\n').encode()


#: Four calls over four minutes, in event-time order.
ORDERED = b"".join([
    event(1, "queued", "09:00:10", "c1"),
    event(2, "answered", "09:00:40", "c1", agent_id="a1"),
    event(3, "queued", "09:01:00", "c2"),
    event(4, "abandoned", "09:02:30", "c2"),
    event(5, "queued", "09:02:59", "c3"),
    event(6, "queued", "09:03:30", "c4"),
])


def run(data: bytes, step_us: int = MINUTE_US, **options: int) -> dict[int, bytes]:
    """Snapshot instant -> the exposition of its families."""
    out: dict[int, bytes] = {}
    backfill_streams([("events", io.BytesIO(data))], CONFIG,
                     lambda at, fams: out.__setitem__(at, render(lambda: fams[:-1])),
                     step_us=step_us, **options)
    return out


def replay_at(data: bytes, at_us: int) -> bytes:
    return replay_streams([("events", io.BytesIO(data))], CONFIG, at_us).exposition()


def us(hms: str) -> int:
    return parse_us(f"2026-11-22T{hms}Z")


@pytest.mark.parametrize(("at", "step", "boundary"), [
    ("09:00:10", "1m", "09:01:00"),
    ("09:01:00", "1m", "09:01:00"),
    ("09:01:00.000001", "1m", "09:02:00"),
    ("09:07:00", "15m", "09:15:00"),
], ids=["inside-a-step", "on-a-boundary", "just-after", "wider-step"])
def test_the_first_snapshot_is_the_first_boundary_at_or_after(at, step, boundary):
    step_us = {"1m": MINUTE_US, "15m": 15 * MINUTE_US}[step]
    assert first_boundary(us(at), step_us) == us(boundary)


class TestSnapshots:
    def test_every_boundary_from_the_first_events_to_the_newest_events(self):
        assert list(run(ORDERED)) == [us(t) for t in
                                      ("09:01:00", "09:02:00", "09:03:00", "09:04:00")]

    def test_each_snapshot_is_what_replay_as_of_prints_at_that_instant(self):
        for at, exposition in run(ORDERED).items():
            assert exposition == replay_at(ORDERED, at)

    def test_from_and_to_choose_the_boundaries(self):
        got = run(ORDERED, from_us=us("09:01:30"), to_us=us("09:03:59"))
        assert list(got) == [us("09:02:00"), us("09:03:00")]
        assert got[us("09:02:00")] == replay_at(ORDERED, us("09:02:00"))

    def test_a_boundary_without_events_is_still_written(self):
        data = event(1, "queued", "09:00:10", "c1") + event(2, "queued", "09:04:10", "c2")
        got = run(data)
        assert list(got) == [us(f"09:0{m}:00") for m in range(1, 6)]
        assert got[us("09:03:00")] == replay_at(data, us("09:03:00"))

    def test_disorder_within_max_disorder_is_exact(self):
        lines = ORDERED.splitlines(keepends=True)
        swapped = b"".join([*lines[:2], lines[3], lines[2], *lines[4:]])  # 09:01:00 90 s late
        out: list[int] = []
        behind = backfill_streams([("events", io.BytesIO(swapped))], CONFIG,
                                  lambda at, fams: out.append(at), step_us=MINUTE_US)
        assert behind.counts["behind"] == 1  # 09:01:00 came after the 09:02:00 snapshot
        got = run(swapped, max_disorder_us=2 * MINUTE_US)
        assert list(got) == [us(t) for t in ("09:01:00", "09:02:00", "09:03:00", "09:04:00")]
        for at, exposition in got.items():
            assert exposition == replay_at(swapped, at)

class TestArchives:
    def test_gzip_is_read_by_its_magic_bytes(self, tmp_path: Path):
        path = tmp_path / "events.jsonl.whatever"
        path.write_bytes(gzip.compress(ORDERED))
        _, stream = open_archive(str(path))
        with stream:
            assert stream.read() == ORDERED

    def test_plain_files_are_read_as_they_are(self, tmp_path: Path):
        path = tmp_path / "events.jsonl.gz"  # the name says nothing
        path.write_bytes(ORDERED)
        _, stream = open_archive(str(path))
        with stream:
            assert stream.read() == ORDERED


def family(name: str, samples_: dict) -> Family:
    fam = new_family(name)
    fam.samples.update(samples_)
    return fam


class TestOpenMetrics:
    def test_a_counter_family_drops_total_and_its_samples_keep_it(self):
        fam = family("cc_qa_reviews_total", {("sales", "voice"): 3})
        assert header(fam) == "# HELP cc_qa_reviews QA reviews.\n# TYPE cc_qa_reviews counter\n"
        assert samples(fam, us("09:00:00")) == \
            f'cc_qa_reviews_total{{channel="voice",queue="sales"}} 3.0 {us("09:00:00") // 10**6}\n'

    @pytest.mark.parametrize(("at_us", "text"), [
        (1_700_000_000_000_000, "1700000000"),
        (1_700_000_000_500_000, "1700000000.5"),
        (1_700_000_000_000_001, "1700000000.000001"),
    ], ids=["whole", "half", "micro"])
    def test_timestamps_are_seconds(self, at_us, text):
        assert timestamp_text(at_us) == text

    def test_an_empty_family_has_no_sample_lines(self):
        assert samples(new_family("cc_qa_reviews_total"), 0) == ""


def test_the_day_files_are_contiguous_per_family_and_promtool_imports_them(tmp_path: Path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not found: install Debian's prometheus package")
    out = tmp_path / "out"
    out.mkdir()
    files = DayFiles(out)
    result = backfill_streams([("events", io.BytesIO(ORDERED))], CONFIG, files.write,
                              step_us=MINUTE_US)
    files.close()
    assert result.snapshots == 4
    [day] = files.written
    assert day.name == "ccpulse-2026-11-22.om"
    assert sorted(p.name for p in out.iterdir()) == [day.name]  # the spool is gone
    text = day.read_text()
    assert text.endswith("\n# EOF\n")
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(types) == len(set(types)), "a family appears twice"
    families = snapshot_families_names()
    assert types == families
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(day),
                           str(tmp_path / "data")], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "BLOCK ULID" in done.stdout


def snapshot_families_names() -> list[str]:
    from streams.core.engine import Engine
    from streams.core.pipeline import PipelineStats
    from streams.openmetrics import family_name

    return [family_name(f) for f in snapshot_families(Engine(CONFIG), PipelineStats(), 0)]


class TestProgress:
    def test_a_line_every_few_seconds_with_the_archives_time(self):
        now = [0.0]
        err = io.StringIO()
        progress = Progress(err, clock=lambda: now[0])
        result = BackfillResult(snapshots=12)
        result.counts["read"] = 34_567
        progress(result, us("09:30:00"))
        assert err.getvalue() == ""
        now[0] = PROGRESS_EVERY_S
        progress(result, us("09:30:00"))
        progress(result, us("09:31:00"))
        assert err.getvalue() == ("backfill: at 2026-11-22T09:30Z · 34,567 events read · 12 "
                                  "snapshots written\n")
