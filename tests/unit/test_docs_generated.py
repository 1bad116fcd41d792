"""The generated documents are what their generators make of the current sources, byte for
byte: ``docs/events.md`` from ``schemas/``, ``docs/metrics.md`` from the metric catalogue,
``docs/commands.md`` from the command-line parsers. After changing a schema, the catalogue or
a command's options, run ``python -m streams.docgen`` and commit."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar, NamedTuple

import pytest

from streams.core.events import EVENT_TYPES
from streams.docgen import (
    DOCUMENTS,
    ROOT,
    Document,
    Unavailable,
    commands_document,
    contract_sections,
    events_document,
    link_contract,
    main,
    metrics_document,
    render_commands,
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

    def test_commands_md_is_generated_from_the_parsers(self):
        try:
            expected = commands_document(ROOT)
        except Unavailable as exc:
            pytest.skip(str(exc))
        assert _committed("commands.md") == expected

    def test_commands_md_does_not_depend_on_the_terminal_or_the_environment(self):
        env = {**os.environ, "COLUMNS": "40", "CCPULSE_BROKER": "elsewhere:1",
               "CCPULSE_DATA_DIR": "/elsewhere", "CCPULSE_TOPIC_PREFIX": "x."}
        code = ("import sys; from streams.docgen import ROOT, commands_document; "
                "sys.stdout.write(commands_document(ROOT))")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout
        assert out == commands_document(ROOT)

    def test_events_md_links_the_contract_instead_of_naming_spec(self):
        text = _committed("events.md")
        assert "SPEC" not in text
        assert "[contract §1.2](contract.md#12-calls-and-chats-contacts)" in text

    def test_events_md_has_one_section_per_event_type_in_contract_order(self):
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


class TestContractLinks:
    SECTIONS: ClassVar[dict[str, str]] = {"1.2": "12-calls", "3.3": "33-windowed"}

    def test_old_and_new_references_become_links(self):
        assert link_contract("(SPEC §1.2, §3.3) and docs/contract.md §3.3.", self.SECTIONS) == (
            "([contract §1.2](contract.md#12-calls), [§3.3](contract.md#33-windowed)) and "
            "[contract §3.3](contract.md#33-windowed).")

    def test_a_section_the_contract_does_not_have_is_an_error(self):
        with pytest.raises(ValueError, match=r"§9\.9"):
            link_contract("SPEC " + "§9.9", self.SECTIONS)  # split: no dangling reference

    def test_sections_are_read_from_the_headings_outside_code(self, tmp_path):
        (tmp_path / "docs").mkdir()
        (tmp_path / "docs" / "contract.md").write_text(
            "# Title\n\n## 1. Topics\n\n### 1.1 Envelope (every event)\n\n```\n## 9. no\n```\n")
        assert contract_sections(tmp_path) == {"1": "1-topics",
                                               "1.1": "11-envelope-every-event"}


class TestCommandsRenderer:
    @staticmethod
    def program() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="tool", description="Does things.")
        parser.add_argument("--debug", action="store_true", help="show tracebacks")
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        run = sub.add_parser("run", help="run it", description="Run it, | carefully.")
        run.add_argument("files", nargs="+", metavar="FILE", help="input files")
        run.add_argument("--speed", type=float, default=2.0, help="speed (default %(default)s)")
        run.add_argument("--secret", help=argparse.SUPPRESS)
        db = sub.add_parser("db", help="the database")
        db_sub = db.add_subparsers(dest="action")
        db_sub.add_parser("start", help="start it")
        return parser

    def test_every_command_and_flag_with_its_help(self):
        text = render_commands(self.program())
        assert "| [`tool run`](#tool-run) | run it |" in text
        assert "| [`tool db start`](#tool-db-start) | start it |" in text
        assert "## `tool run`" in text and "### `tool db start`" in text
        assert "```\ntool run [-h] [--speed SPEED] FILE [FILE ...]\n```" in text
        assert "| `FILE` | Input files (one or more). |" in text
        assert "| `--speed SPEED` | Speed (default 2.0). |" in text
        assert "\n\nRun it, | carefully.\n\n" in text
        assert "--secret" not in text

    def test_help_is_listed_once_for_the_program_not_per_sub_command(self):
        text = render_commands(self.program())
        assert text.count("`-h, --help`") == 1

    def test_every_option_of_the_real_program_is_documented(self):
        from streams.cli import build_parser

        text = _committed("commands.md")
        parsers = [build_parser()]
        while parsers:
            parser = parsers.pop()
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    parsers += action.choices.values()
                    assert all(f"`{sub.prog}`" in text for sub in action.choices.values())
                for option in action.option_strings:
                    assert option in text, f"{parser.prog} {option}"


class TestCommand:
    @pytest.fixture
    def root(self, tmp_path: Path) -> Path:
        shutil.copytree(ROOT / "schemas", tmp_path / "schemas")
        (tmp_path / "docs").mkdir()
        shutil.copy(ROOT / "docs" / "contract.md", tmp_path / "docs" / "contract.md")
        return tmp_path

    def test_writes_then_checks_clean(self, root):
        events = (DOCUMENTS[0],)
        assert main([], root=root, documents=events, err=io.StringIO()) == 0
        assert (root / "docs" / "events.md").read_text() == events_document(ROOT)
        assert main(["--check"], root=root, documents=events, err=io.StringIO()) == 0

    def test_check_fails_with_one_line_when_a_document_differs(self, root):
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
