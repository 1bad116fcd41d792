"""``ccpulse connect csv FILE... --mapping M.toml``: any CSV or JSON-lines export, by mapping.

The mapping (a TOML file, docs/sources/csv.md) is read and checked before anything else, and
so is every column it names against each CSV file's header: a mistake is one line naming the
key. ``--mapping NAME`` finds a mapping that ships with ccpulse
(``streams/sources/mappings/NAME.toml``: ``anonymous-bank``, ``helpdesk-log``), ``--mapping
PATH`` the user's own. The engine is :mod:`streams.sources.mapping`, the reader
:mod:`streams.sources.mapping_read`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from streams.sources.base import Connector

HELP = "any CSV or JSON-lines export, by a TOML mapping (bank and helpdesk mappings ship)"
DESCRIPTION = (
    "Read CSV or JSON-lines exports and turn their rows into ccpulse events by a TOML mapping: "
    "one row per contact with several timestamps, or one row per event; value maps for "
    "outcome codes; the export's time zone and time format. --mapping names a mapping "
    "file, or one that ships with ccpulse (anonymous-bank: the Anonymous Bank call log; "
    "helpdesk-log: the Italian helpdesk ticket log). The mapping format: docs/sources/csv.md.")

SYSTEM = "csv"
#: Where the shipped mappings are, inside the package.
SHIPPED_DIR = Path(__file__).resolve().parent / "mappings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="the export's files, read in this order (each CSV file with its "
                             "own header row)")
    parser.add_argument("--mapping", required=True, metavar="M.toml|NAME",
                        help="the mapping: a TOML file, or the name of one that ships with "
                             f"ccpulse ({', '.join(shipped_mappings()) or 'none'})")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading the last file as it grows, like tail -F (not with "
                             "a mapping that sets [input] order_by)")


def shipped_mappings() -> list[str]:
    """The names of the mappings that ship with ccpulse."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.toml"))


def mapping_path(name: str) -> Path:
    """``--mapping``'s file: an existing path, else a shipped mapping's name. Raises
    ConfigError naming the shipped ones."""
    from streams.errors import ConfigError

    path = Path(name)
    if path.is_file():
        return path
    shipped = SHIPPED_DIR / f"{name.removesuffix('.toml')}.toml"
    if os.sep not in name and shipped.is_file():
        return shipped
    raise ConfigError(f"--mapping {name!r} is neither a file nor a mapping that ships with "
                      f"ccpulse ({', '.join(shipped_mappings())})")


def required_fields() -> dict[str, frozenset[str]]:
    """Each event type's required fields, from the JSON Schemas the engine validates with."""
    from streams.validation import load_schemas

    return {name: frozenset(doc.get("required", ())) for name, doc in load_schemas().items()}


def known_fields() -> dict[str, frozenset[str]]:
    """Each event type's fields: the properties of its JSON Schema, with those it takes by
    ``$ref`` (the envelope) or from ``allOf``/``anyOf``/``oneOf``/``if``/``then``/``else``."""
    from streams.validation import load_schemas

    return schema_fields(load_schemas())


def schema_fields(schemas: Mapping[str, Mapping[str, Any]]) -> dict[str, frozenset[str]]:
    """:func:`known_fields` of the schema documents ``schemas`` (keyed by file name without
    ``.json``, as :func:`streams.validation.load_schemas` gives them)."""
    return {name: frozenset(_properties(doc, doc, schemas, set()))
            for name, doc in schemas.items() if name != "envelope"}


def _properties(node: Any, doc: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]],
                seen: set[str]) -> set[str]:
    """The top-level property names ``node`` (a part of the schema document ``doc``) allows."""
    if not isinstance(node, Mapping):
        return set()
    out = set(node.get("properties") or ())
    ref = node.get("$ref")
    if isinstance(ref, str):
        # "envelope.json", "envelope.json#/$defs/id", the full $id URI, or "#/..." in doc.
        where, _, pointer = ref.partition("#")
        name = where.rsplit("/", 1)[-1].removesuffix(".json")
        target_doc = schemas.get(name) if where else doc
        key = f"{name if where else id(doc)}#{pointer}"
        if isinstance(target_doc, Mapping) and key not in seen:   # a cycle is followed once
            seen.add(key)
            target: Any = target_doc
            for part in (p for p in pointer.split("/") if p):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, Mapping) else None
            out |= _properties(target, target_doc, schemas, seen)
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key) or ():
            out |= _properties(sub, doc, schemas, seen)
    for key in ("if", "then", "else"):
        out |= _properties(node.get(key), doc, schemas, seen)
    return out


def load_mapping(name: str) -> Any:
    """Read and check a mapping (``--mapping``'s value). Raises ConfigError."""
    import tomllib

    from streams.errors import ConfigError
    from streams.sources.mapping_spec import parse_mapping

    path = mapping_path(name)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read mapping {str(path)!r}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"mapping {path.name}: not valid TOML: {exc}") from None
    return parse_mapping(doc, path.name, required_fields(), known_fields())


def build(args: argparse.Namespace, config: Any) -> Connector:
    """The connector of ``connect csv``: files, mapping and reader, checked."""
    from streams.errors import CcpulseError, ConfigError
    from streams.sources.mapping import RowMapper
    from streams.sources.mapping_read import read_header, read_rows, read_sorted, resumable
    from streams.sources.mapping_spec import check_columns

    spec = load_mapping(args.mapping)
    for warning in spec.warnings:   # a field the type lacks: a typo, or an extra on purpose
        print(f"connect {SYSTEM}: {warning}", file=sys.stderr, flush=True)
    paths = [os.path.abspath(p) for p in args.files]
    follow = bool(getattr(args, "follow", False))
    inp = spec.input
    if follow and inp.order_by is not None:
        raise ConfigError(f"mapping {spec.name} sorts its rows ([input] order_by), which "
                          "needs whole files: --follow cannot be used with it")
    for index, path in enumerate(paths):
        if not os.path.exists(path):
            if follow and index == len(paths) - 1:
                continue
            raise CcpulseError(f"{path!r} does not exist; check the path")
        if inp.format == "csv":
            header = read_header(path, inp)
            if header is not None:
                check_columns(spec, header, f"{os.path.basename(path)}'s header")
    mapper = RowMapper(spec)

    def read(position: Mapping[str, Any] | None) -> Iterator[Any]:
        if position is not None and not resumable(paths, position):
            # The input changed under the checkpoint: it is read again from the start (same
            # ids), so what the mapper remembered of it must go too.
            mapper.restore({})
        if inp.order_by is not None:
            order_by = inp.order_by
            return read_sorted(paths, position, inp, lambda row: mapper.time_of(row, order_by))
        return read_rows(paths, position, inp, follow=follow)

    what = f"{len(paths)} {inp.format} file(s) by mapping {spec.name}"
    mapping_file = str(mapping_path(args.mapping).resolve())
    return Connector(SYSTEM, "\x1f".join([*paths, f"mapping:{mapping_file}"]), read, mapper,
                     describe=f"{what}{': follow' if follow else ''}")
