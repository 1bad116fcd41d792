"""The documentation is self-contained: a user who clones the repository has everything.

Every Markdown link in ``README.md`` and ``docs/`` goes to a web page or to a file of the
repository that exists (and is not ignored by git, so a fresh clone has it), and an anchor to a
heading that exists (GitHub's anchors). No document, metric help text or contract reference
points at a file outside the repository (the contract is ``docs/contract.md``), and every
"contract §x" the sources cite is a section the contract has. Every TOML example in the docs is
a configuration ccpulse accepts.
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

from streams.core.metrics import CATALOGUE
from streams.docgen import CONTRACT, ROOT, _outside_code, _slug, contract_sections

DOCS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))
DOCUMENTS = ["README.md", *DOCS]
#: Documents others are still re-pointing from the old out-of-repository contract file;
#: ``/tmp/spec_rename.sh`` (the mechanical rename) empties this set when it has run.
PENDING_RENAME: frozenset[str] = frozenset()
#: Test data (not documentation) that lives beside the repository; this page says where.
DATA_OUTSIDE = {"docs/helpdesk-data.md": "../shared/data/"}

_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_EXTERNAL = ("http://", "https://", "mailto:")
#: A reference to the contract by its old, out-of-repository name.
_OLD_CONTRACT = re.compile(r"\bSPEC(?:\.md|'s)?\b(?!_)")


def _text(document: str) -> str:
    return (ROOT / document).read_text(encoding="utf-8")


def links(text: str) -> list[str]:
    """Targets of the inline, image and reference-style links of Markdown ``text``, code
    blocks and code spans left out."""
    found = []
    for line in _outside_code(text):
        line = _CODE_SPAN.sub("", line)
        found += _LINK.findall(line)
        match = _REFERENCE.match(line)
        if match:
            found.append(match.group(1))
    return found


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of ``text`` (a repeated heading gets -1, -2, …)."""
    seen: dict[str, int] = {}
    result = set()
    for line in _outside_code(text):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", match.group(1))  # link text only
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


@cache
def _shipped() -> frozenset[str]:
    """Files a clone has: tracked, or new and not ignored (a document not committed yet)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell which files a clone has")
    files = set(out.splitlines())
    dirs = {parent.as_posix() for name in files for parent in Path(name).parents}
    return frozenset(files | dirs)


def problems(document: str, text: str | None = None) -> list[str]:
    """What is wrong with the links of one document (its ``text``, else the file's), one line
    each."""
    found = []
    base = (ROOT / document).parent
    for target in links(_text(document) if text is None else text):
        if not target or target.startswith(_EXTERNAL):
            continue
        path, _, anchor = target.partition("#")
        if "://" in path or path.startswith(("/", "file:")):
            found.append(f"{target}: not a file of the repository")
            continue
        # normpath, not resolve(): a link is judged by where it points in the clone
        resolved = Path(os.path.normpath(base / path)) if path else ROOT / document
        if not resolved.is_relative_to(ROOT):
            found.append(f"{target}: outside the repository")
            continue
        relative = resolved.relative_to(ROOT).as_posix()
        if not resolved.exists() or relative not in _shipped():
            found.append(f"{target}: {relative} is not in the repository")
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(
                resolved.read_text(encoding="utf-8")):
            found.append(f"{target}: {relative} has no heading #{anchor}")
    return found


class TestLinks:
    @pytest.mark.parametrize("document", DOCUMENTS)
    def test_every_link_goes_to_the_web_or_to_a_file_and_heading_of_the_repository(
            self, document):
        assert problems(document) == []

    @pytest.mark.parametrize("document", DOCUMENTS)
    def test_no_document_names_a_file_outside_the_repository(self, document):
        text = _text(document)
        allowed = DATA_OUTSIDE.get(document)
        if allowed:
            text = text.replace(allowed, "")
        assert not re.findall(r"\.\./shared|/work/", text)
        if document not in PENDING_RENAME:
            assert not _OLD_CONTRACT.findall(text), (
                f"{document} cites the contract as SPEC; link docs/contract.md instead")

    def test_the_checker_sees_what_is_wrong(self, tmp_path):
        text = ("# Title\n\n## Two words\n\n[ok](#two-words) [web](https://example.com) "
                "[gone](#nothing) `[code](../../x.md)`\n\n```\n[fenced](../x)\n```\n"
                "[ref]: ../../outside.md\n")
        assert links(text) == ["#two-words", "https://example.com", "#nothing",
                               "../../outside.md"]
        assert anchors(text) == {"title", "two-words"}
        assert anchors("## A\n## A\n") == {"a", "a-1"}
        assert problems("docs/new.md", "[a](../../outside.md) [b](missing.md) "
                        "[c](contract.md#nope) [d](contract.md#33-windowed) [e](../schemas/) "
                        "[f](/etc/hosts) [g](../.venv/bin/ccpulse)") == [
            "../../outside.md: outside the repository",
            "missing.md: docs/missing.md is not in the repository",
            "contract.md#nope: docs/contract.md has no heading #nope",
            "/etc/hosts: not a file of the repository",
            "../.venv/bin/ccpulse: .venv/bin/ccpulse is not in the repository",
        ]


class TestContract:
    REQUIRED = ("1", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "2", "3", "3.1", "3.2", "3.3",
                "3.4", "3.5", "3.6", "4", "5", "6", "7")

    def test_keeps_every_section_number_the_code_cites(self):
        assert tuple(contract_sections(ROOT)) == self.REQUIRED

    def test_every_section_reference_in_the_sources_exists(self):
        sections = contract_sections(ROOT)
        pattern = re.compile(r"(?:SPEC|contract(?:\.md)?)\s+§(\d+(?:\.\d+)*)"
                             r"((?:(?:,|–| and)\s*§?\d+(?:\.\d+)*)*)")
        missing = []
        for folder in ("streams", "tests", "deploy", "grafana", "schemas", "docs"):
            for path in sorted((ROOT / folder).rglob("*")):
                if path.suffix not in {".py", ".md", ".json", ".yml", ".yaml", ".toml"}:
                    continue
                text = path.read_text(encoding="utf-8").replace("\\u00a7", "§")
                for match in pattern.finditer(text):
                    numbers = [match.group(1), *re.findall(r"(\d+(?:\.\d+)*)", match.group(2))]
                    missing += [f"{path.relative_to(ROOT)}: §{n}" for n in numbers
                                if n not in sections]
        assert missing == []

    def test_every_metric_it_names_is_in_the_catalogue(self):
        names = {spec.name for spec in CATALOGUE}
        named = set(re.findall(r"`(cc_[a-z_]+)[`{]", _text(CONTRACT)))
        unknown = {name for name in named
                   if name not in names and name.rsplit("_", 1)[0] not in names}
        assert unknown == set()


class TestMetricHelp:
    @pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
    def test_help_text_points_at_nothing_outside_the_repository(self, spec):
        assert not _OLD_CONTRACT.search(spec.help)
        assert not re.search(r"\.\./|/work/|shared/", spec.help)


class TestExamples:
    @pytest.mark.parametrize("document", DOCUMENTS)
    def test_every_toml_example_is_a_valid_configuration(self, document):
        import tomllib

        from streams.core.config import parse_config

        for block in re.findall(r"```toml\n(.*?)```", _text(document), re.S):
            parse_config(tomllib.loads(block))
