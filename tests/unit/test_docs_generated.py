"""The generated documents are what their generators make of the current sources, byte for
byte: ``docs/events.md`` from ``schemas/``, ``docs/metrics.md`` from the metric catalogue.
After changing a schema or the catalogue, run ``python -m streams.docgen`` and commit."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from streams.core.events import EVENT_TYPES
from streams.docgen import (
    DOCUMENTS,
    ROOT,
    Document,
    Unavailable,
    events_document,
    main,
    metrics_document,
    render_metrics,
)


def _committed(name: str) -> str:
    return (ROOT / "docs" / name).read_text(encoding="utf-8")


class TestCommittedDocs:
    def test_events_md_is_generated_from_the_schemas(self):
        assert _committed("events.md") == events_document(ROOT)

    def test_metrics_md_is_generated_from_the_catalogue(self):
        try:
            expected = metrics_document(ROOT)
        except Unavailable as exc:
            pytest.skip(str(exc))
        assert _committed("metrics.md") == expected

    def test_events_md_has_one_section_per_event_type_in_spec_order(self):
        headings = [line.removeprefix("### ").strip("`") for line in
                    _committed("events.md").splitlines() if line.startswith("### `")]
        assert headings == list(EVENT_TYPES)


class Spec(NamedTuple):
    name: str
    kind: str
    help: str
    labels: tuple[str, ...]


class TestMetricsRenderer:
    CATALOGUE = (
        Spec("cc_things_total", "counter", "Things | counted.", ("queue",)),
        Spec("cc_window_things", "gauge", "Things in the window.", ("queue", "window")),
        Spec("cc_window_tries", "gauge", "Tries in the window.", ("queue", "window")),
        Spec("cc_thing_ratio", "gauge", "Things per try.", ("queue", "window")),
    )

    def test_groups_by_kind_and_escapes_table_cells(self):
        text = render_metrics(self.CATALOGUE, {})
        assert "## Counters" in text and "## Gauges" in text
        assert "| `cc_things_total` | counter | `queue` | Things \\| counted. |" in text
        assert "Fleet-wide" not in text

    def test_each_ratio_gets_its_sum_over_sum_promql(self):
        text = render_metrics(self.CATALOGUE,
                              {"cc_thing_ratio": ("cc_window_things", "cc_window_tries")})
        assert ("| `cc_thing_ratio` | `cc_window_things` | `cc_window_tries` | "
                "`sum by (queue, window) (cc_window_things) / "
                "sum by (queue, window) (cc_window_tries)` |") in text


class TestCommand:
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
        return tmp_path

    def test_writes_then_checks_clean(self, root):
        events = (DOCUMENTS[0],)
        assert main([], root=root, documents=events, err=io.StringIO()) == 0
        assert (root / "docs" / "events.md").read_text() == events_document(ROOT)
        assert main(["--check"], root=root, documents=events, err=io.StringIO()) == 0

    def test_check_fails_with_one_line_when_a_document_differs(self, root):
        (root / "docs").mkdir()
        (root / "docs" / "events.md").write_text("# Events\n\nedited by hand\n")
        err = io.StringIO()
        assert main(["--check"], root=root, documents=(DOCUMENTS[0],), err=err) == 1
        assert err.getvalue() == ("docgen: out of date: docs/events.md; run `python -m "
                                  "streams.docgen` and commit the result\n")
        assert (root / "docs" / "events.md").read_text() == "# Events\n\nedited by hand\n"

    def test_a_document_whose_source_is_missing_is_skipped_with_a_message(self, root):
        def not_yet(_: Path) -> str:
            raise Unavailable("the catalogue is not there yet")

        err = io.StringIO()
        assert main(["--check"], root=root, documents=(Document("docs/x.md", not_yet),),
                    err=err) == 0
        assert err.getvalue() == "docgen: skipped docs/x.md: the catalogue is not there yet\n"
