"""Value templates of a CSV/JSON-lines mapping: ``"section-{support_section|digits}"``.

A template is literal text with references in braces. A reference names

- a column (a CSV header name, or a JSON-lines key or dotted path such as ``agent.id``);
- ``_row`` (the data row's number, 1 for the first row of each file) or ``_line`` (the line of
  the file it starts on);
- ``@slot``: what the row's entity remembers under ``slot`` (see ``set`` in docs/sources/csv.md);
- ``=time`` or ``=time:FORMAT``: the row's ``[times]`` entry ``time``, in its zone, as ISO 8601
  or written by the strftime ``FORMAT`` (``{=entered:%Y-%m-%d}``).

A ``?`` after the name makes a missing column an empty value instead of a skipped row; ``|f``
applies a filter: a value map of the mapping by name, or a built-in (:data:`BUILTINS`).
``{{`` and ``}}`` are literal braces. Rendering is pure: the caller hands in a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final


class RowError(Exception):
    """A row cannot be mapped: ``reason`` is the bounded skip code, ``detail`` one line."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


#: Filters every mapping has: ``digits`` keeps the digits (``Value 12`` -> ``12``).
BUILTINS: Final[dict[str, Callable[[str], str]]] = {
    "digits": _digits,
    "lower": str.lower,
    "upper": str.upper,
    "trim": str.strip,
}
#: The key of a value map that matches every value the map does not name.
OTHERWISE: Final = "*"


@dataclass(frozen=True)
class Ref:
    """``{name?|filter|...}``."""

    name: str
    optional: bool
    filters: tuple[str, ...]


@dataclass(frozen=True)
class Template:
    """A parsed template; ``source`` is the text it was written as."""

    source: str
    parts: tuple[str | Ref, ...]

    def refs(self) -> list[Ref]:
        return [p for p in self.parts if isinstance(p, Ref)]

    def columns(self) -> list[str]:
        """The columns the template reads (not ``_row``, ``_line``, ``@slots`` or ``=times``)."""
        return [r.name for r in self.refs() if is_column(r.name)]

    def slots(self) -> list[str]:
        return [r.name[1:] for r in self.refs() if r.name.startswith("@")]


def is_column(name: str) -> bool:
    """True when ``name`` is a column, not a row property, an entity slot or a time."""
    return name not in {"_row", "_line"} and not name.startswith(("@", "="))


def time_ref(name: str) -> tuple[str, str | None] | None:
    """``=entered:%Y-%m-%d`` -> ``("entered", "%Y-%m-%d")``, ``=entered`` -> ``("entered",
    None)``; None when ``name`` is not a reference to a time."""
    if not name.startswith("="):
        return None
    time, sep, fmt = name[1:].partition(":")
    return time.strip(), (fmt if sep else None)


_PIECE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def parse_template(text: str) -> Template:
    """Parse ``text``; raises ValueError (with what is wrong) for an unbalanced brace or an
    empty reference."""
    parts: list[str | Ref] = []
    literal: list[str] = []
    at = 0
    for match in _PIECE.finditer(text):
        literal.append(text[at:match.start()])
        at = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
            continue
        if match.group(1) is None:
            raise ValueError(f"an unmatched {token!r} (write {token * 2!r} for a literal brace)")
        name, *filters = (piece.strip() for piece in match.group(1).split("|"))
        optional = name.endswith("?")
        name = name.removesuffix("?").strip()
        if not name or any(not f for f in filters):
            raise ValueError(f"{{{match.group(1)}}} names no column")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Ref(name, optional, tuple(filters)))
    literal.append(text[at:])
    if "".join(literal):
        parts.append("".join(literal))
    return Template(text, tuple(parts))


Lookup = Callable[[Ref], str]


def render(template: Template, lookup: Lookup, maps: Mapping[str, Mapping[str, str]]) -> str:
    """The template's text for one row: each reference's value from ``lookup``, through its
    filters. Raises :class:`RowError` ``unknown_value:<map>`` for a value a map lacks."""
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = lookup(part)
        for name in part.filters:
            value = apply_filter(name, value, part.name, maps)
        out.append(value)
    return "".join(out)


def apply_filter(name: str, value: str, column: str,
                 maps: Mapping[str, Mapping[str, str]]) -> str:
    """One filter: a value map of the mapping, else a built-in."""
    table = maps.get(name)
    if table is None:
        return BUILTINS[name](value)
    if value in table:
        return table[value]
    if OTHERWISE in table:
        return table[OTHERWISE]
    raise RowError(f"unknown_value:{name}",
                   f"{column} {value!r} is not in [values.{name}] (add it, or \"*\" for "
                   "every other value)")
