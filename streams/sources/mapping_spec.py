"""A CSV/JSON-lines mapping file, parsed and checked up front (docs/sources/csv.md).

:func:`parse_mapping` turns the TOML document into a :class:`MappingSpec` or raises
:class:`~streams.errors.ConfigError` with one line naming the mapping and the key, e.g.
``mapping bank.toml: [[event]] 2 (call.answered) at names time 'left', which [times] does not
define (times: queued)``. :func:`check_columns` then holds every column a template reads against
a CSV file's header. A field that the event type's schema does not have (``priorty``) is not an
error — the contract lets a producer send extra fields — but :attr:`MappingSpec.warnings` names
it, with the closest field the type has, for the command to print. Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.errors import ConfigError
from streams.sources.mapping_template import (
    BUILTINS,
    Template,
    is_column,
    parse_template,
    time_ref,
)

FORMATS: Final = ("csv", "jsonl")
#: ``time_format`` values that are not strptime formats.
NAMED_TIME_FORMATS: Final = ("iso", "epoch_s", "epoch_ms", "epoch_us")
#: ``[input] delimiter = "auto"``: the candidates, in the order that breaks a tie.
AUTO_DELIMITERS: Final = (",", "\t", ";", "|")
#: ``as`` of a field: what JSON type its text becomes.
FIELD_TYPES: Final = ("string", "int", "number", "bool")
#: Fields a mapping never sets: the connector makes them.
ENVELOPE_MADE: Final = frozenset({"event_id", "type", "occurred_at"})
#: Fields every event type has (docs/contract.md §1.1, schemas/envelope.json).
ENVELOPE_FIELDS: Final = ENVELOPE_MADE | {"schema_version", "source"}
_REASON = re.compile(r"[A-Za-z0-9_.:-]{1,48}")
_SLOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TOP_KEYS: Final = ("input", "ids", "entity", "common_fields", "values", "times", "skip", "event")
INPUT_KEYS: Final = ("format", "delimiter", "quotechar", "encoding", "columns", "timezone",
                     "time_format", "ambiguous", "order_by")


@dataclass(frozen=True)
class InputSpec:
    """``[input]``: how to read the file and its times."""

    format: str = "csv"
    delimiter: str = ","                     # or "auto": detected from each file's first line
    quotechar: str = '"'
    encoding: str = "utf-8"
    columns: tuple[str, ...] | None = None   # the file has no header row
    timezone: str = "UTC"
    time_format: tuple[str, ...] = ("iso",)  # tried in order: the first that parses wins
    ambiguous: str = "earlier"               # a repeated wall-clock hour (DST ends)
    order_by: str | None = None              # a [times] name: read all rows, then sort


@dataclass(frozen=True)
class Condition:
    """One test of a ``when``: ``first = true|false``, or ``value`` with ``in``, ``not_in``
    and/or ``changed``."""

    first: bool | None = None
    value: Template | None = None
    is_in: tuple[Template, ...] | None = None
    not_in: tuple[Template, ...] | None = None
    changed: bool | None = None


@dataclass(frozen=True)
class TimeSpec:
    """One entry of ``[times]``: a template parsed as a time, or another time plus seconds;
    optionally never before a third time. A parsed time with ``rolls_over_after`` is a clock
    time that may have passed midnight: when it is more than ``slack_seconds`` earlier than
    that other time, it is on the next day. When ``absent_when`` holds (the row's placeholder
    for "no time", such as ``0:00:00``) the value is not read: the time is ``not_before``'s."""

    name: str
    value: Template | None
    after: str | None
    plus_seconds: Template | None
    not_before: str | None
    time_format: tuple[str, ...]
    zone: ZoneInfo
    ambiguous: str
    rolls_over_after: str | None = None
    slack_seconds: float = 0.0
    absent_when: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    """An event field: a template (text made ``as`` type) or a TOML constant."""

    name: str
    template: Template | None
    constant: Any = None
    as_type: str = "string"


@dataclass(frozen=True)
class EventSpec:
    """One ``[[event]]``: the event a row gives when ``when`` holds."""

    label: str           # "[[event]] 2 (call.answered)", for messages
    index: int
    type: str
    at: str
    when: tuple[Condition, ...]
    fields: tuple[FieldSpec, ...]
    sets: tuple[tuple[str, Template], ...]


@dataclass(frozen=True)
class SkipRule:
    """One ``[[skip]]``: rows for which ``when`` holds give no event, counted as ``reason``."""

    label: str
    when: tuple[Condition, ...]
    reason: str


@dataclass(frozen=True)
class MappingSpec:
    """A whole mapping, checked."""

    name: str
    input: InputSpec
    id_prefix: str
    id_key: tuple[Template, ...] | None   # None: the whole row
    entity: Template | None
    common: tuple[FieldSpec, ...]
    maps: Mapping[str, Mapping[str, str]]
    times: Mapping[str, TimeSpec]
    skips: tuple[SkipRule, ...]
    events: tuple[EventSpec, ...]
    #: One line per field the event type does not have (a typo, or an extra field on
    #: purpose), e.g. ``mapping m.toml: [[event]] 2 (call.queued) sets 'priorty', which ...``.
    warnings: tuple[str, ...] = ()

    def templates(self) -> Iterator[tuple[str, Template]]:
        """Every template with where it is (``[[event]] 2 (call.answered) fields.queue``)."""
        for key in self.id_key or ():
            yield "[ids] key", key
        if self.entity is not None:
            yield "[entity] key", self.entity
        for f in self.common:
            if f.template is not None:
                yield f"[common_fields] {f.name}", f.template
        for t in self.times.values():
            for what, tpl in (("", t.value), (".plus_seconds", t.plus_seconds)):
                if tpl is not None:
                    yield f"[times] {t.name}{what}", tpl
            for cond in t.absent_when:
                for tpl in (cond.value, *(cond.is_in or ()), *(cond.not_in or ())):
                    if tpl is not None:
                        yield f"[times] {t.name} absent_when", tpl
        for rule in (*self.skips, *self.events):
            for n, cond in enumerate(rule.when, start=1):
                for tpl in (cond.value, *(cond.is_in or ()), *(cond.not_in or ())):
                    if tpl is not None:
                        yield f"{rule.label} when {n}", tpl
        for event in self.events:
            for f in event.fields:
                if f.template is not None:
                    yield f"{event.label} fields.{f.name}", f.template
            for slot, tpl in event.sets:
                yield f"{event.label} set.{slot}", tpl


def parse_mapping(doc: Mapping[str, Any], name: str,
                  required: Mapping[str, frozenset[str]] | None = None,
                  known: Mapping[str, frozenset[str]] | None = None) -> MappingSpec:
    """Check the TOML document ``doc`` of the mapping file ``name``. ``required``: each event
    type's required fields (from the JSON Schemas), to refuse a mapping that can never make a
    valid event. ``known``: each event type's fields (the properties of its schema), to warn of
    a field the type does not have (:func:`unknown_fields`). Raises ConfigError."""
    spec = _Parser(name, required).mapping(doc)
    if known is None:
        return spec
    return MappingSpec(spec.name, spec.input, spec.id_prefix, spec.id_key, spec.entity,
                       spec.common, spec.maps, spec.times, spec.skips, spec.events,
                       tuple(unknown_fields(spec, known)))


def unknown_fields(spec: MappingSpec, known: Mapping[str, frozenset[str]]) -> list[str]:
    """One line per field the mapping sets that its event type does not have: sent as an extra
    field, which validation accepts, so a misspelt optional field (``priorty``) would be lost
    without a word. An ``[[event]]``'s own field is held against its type; a
    ``[common_fields]`` field against all the mapping's event types together (``queue`` is on
    call.queued but not on call.ended: no warning), since it goes on every event."""
    def fields_of(event_type: str) -> frozenset[str]:
        return known.get(event_type, frozenset()) | ENVELOPE_FIELDS

    def hint(name: str, candidates: frozenset[str]) -> str:
        close = difflib.get_close_matches(name, sorted(candidates - ENVELOPE_MADE), n=1)
        return f"; did you mean {close[0]!r}?" if close else ""

    lines = []
    types = list(dict.fromkeys(e.type for e in spec.events))
    union = frozenset().union(*(fields_of(t) for t in types))
    for f in spec.common:
        if f.name not in union:
            which = (f"{types[0]} does not have" if len(types) == 1
                     else f"none of {', '.join(types)} has")
            lines.append(f"mapping {spec.name}: [common_fields] sets {f.name!r}, which "
                         f"{which} (sent as an extra field on every event"
                         f"{hint(f.name, union)})")
    for event in spec.events:
        have = fields_of(event.type)
        for f in event.fields:
            if f.name not in have:
                lines.append(f"mapping {spec.name}: {event.label} sets {f.name!r}, which "
                             f"{event.type} does not have (sent as an extra field"
                             f"{hint(f.name, have)})")
    return lines


def check_columns(spec: MappingSpec, columns: list[str], where: str) -> None:
    """Every column a template of ``spec`` reads must be one of ``columns`` (the header of
    ``where``). Optional references (``{name?}``) may be absent. Raises ConfigError."""
    have = set(columns)
    for place, template in spec.templates():
        for ref in template.refs():
            if is_column(ref.name) and not ref.optional and ref.name not in have:
                shown = ", ".join(columns[:30]) + (", ..." if len(columns) > 30 else "")
                raise ConfigError(f"mapping {spec.name}: {place} names column {ref.name!r}, "
                                  f"which {where} does not have (columns: {shown})")


class _Parser:
    def __init__(self, name: str, required: Mapping[str, frozenset[str]] | None) -> None:
        self.name = name
        self.required = required
        self.maps: dict[str, dict[str, str]] = {}
        self.entity = False

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"mapping {self.name}: {message}")

    def table(self, value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{where} must be a table, got {value!r}")
        for key in value:
            if key not in keys:
                raise self.fail(f"{where} has no key {key!r} (keys: {', '.join(keys)})")
        return dict(value)

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(f"{where} must be a string, got {value!r}")
        return value

    def template(self, value: Any, where: str) -> Template:
        try:
            template = parse_template(self.text(value, where))
        except ValueError as exc:
            raise self.fail(f"{where} {value!r}: {exc}") from None
        for ref in template.refs():
            for f in ref.filters:
                if f not in self.maps and f not in BUILTINS:
                    raise self.fail(f"{where} {value!r}: filter {f!r} is neither a [values] "
                                    f"map nor a built-in ({', '.join(BUILTINS)})")
            if ref.name.startswith("@") and not self.entity:
                raise self.fail(f"{where} {value!r} reads {ref.name!r}, an entity slot, but "
                                "the mapping has no [entity] key")
        return template

    # --- sections ------------------------------------------------------------------------

    def mapping(self, doc: Mapping[str, Any]) -> MappingSpec:
        doc = self.table(doc, "the file", TOP_KEYS)
        inp = self.input(doc.get("input", {}))
        self.maps = self.values(doc.get("values", {}))
        ids = self.table(doc.get("ids", {}), "[ids]", ("prefix", "key"))
        prefix = self.text(ids.get("prefix", "csv"), "[ids] prefix")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", prefix):
            raise self.fail(f"[ids] prefix {prefix!r} must be 1-32 letters, digits, '_', '.' "
                            "or '-'")
        key = None
        if "key" in ids:
            raw = ids["key"] if isinstance(ids["key"], list) else [ids["key"]]
            if not raw:
                raise self.fail("[ids] key must name at least one value")
            key = tuple(self.template(k, "[ids] key") for k in raw)
        entity = None
        if "entity" in doc:
            table = self.table(doc["entity"], "[entity]", ("key",))
            if "key" not in table:
                raise self.fail("[entity] needs key, the template that names a row's entity")
            self.entity = True
            entity = self.template(table["key"], "[entity] key")
        times = self.times(doc.get("times", {}), inp)
        if inp.order_by is not None and inp.order_by not in times:
            raise self.fail(f"[input] order_by names time {inp.order_by!r}, which [times] "
                            f"does not define (times: {', '.join(times) or 'none'})")
        common = tuple(self.field(k, v, f"[common_fields] {k}")
                       for k, v in self.table(doc.get("common_fields", {}), "[common_fields]",
                                              tuple(doc.get("common_fields", {}))).items())
        skips = tuple(self.skip(n, raw) for n, raw in
                      enumerate(self.array(doc.get("skip", []), "[[skip]]"), start=1))
        raw_events = self.array(doc.get("event", []), "[[event]]")
        if not raw_events:
            raise self.fail("no [[event]]: a mapping needs at least one")
        events = tuple(self.event(n, raw, times, common) for n, raw in
                       enumerate(raw_events, start=1))
        spec = MappingSpec(self.name, inp, prefix, key, entity, common, self.maps, times, skips,
                           events)
        self.time_refs(spec)
        return spec

    def time_refs(self, spec: MappingSpec) -> None:
        """Every ``{=time}`` names a time of ``[times]``, and is not in ``[times]`` itself."""
        for place, template in spec.templates():
            for ref in template.refs():
                target = time_ref(ref.name)
                if target is None:
                    continue
                shown = f"{place} {template.source!r}"
                if place.startswith("[times]"):
                    raise self.fail(f"{shown} reads a time ({{{ref.name}}}); a [times] entry "
                                    "is read from columns (use after, not_before or "
                                    "rolls_over_after to relate times)")
                if target[0] not in spec.times:
                    raise self.fail(f"{shown} reads time {target[0]!r}, which [times] does "
                                    f"not define (times: {', '.join(spec.times) or 'none'})")

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(f"{where} must be an array of tables (write {where} once per "
                            "entry)")
        return value

    def input(self, raw: Any) -> InputSpec:
        table = self.table(raw, "[input]", INPUT_KEYS)
        fmt = table.get("format", "csv")
        if fmt not in FORMATS:
            raise self.fail(f"[input] format {fmt!r} is not one of {', '.join(FORMATS)}")
        for key in ("delimiter", "quotechar"):
            if key == "delimiter" and table.get(key) == "auto":
                continue
            if key in table and (not isinstance(table[key], str) or len(table[key]) != 1):
                also = " or \"auto\"" if key == "delimiter" else ""
                raise self.fail(f"[input] {key} must be one character{also}, got "
                                f"{table[key]!r}")
        encoding = self.text(table.get("encoding", "utf-8"), "[input] encoding")
        try:
            if "x".encode(encoding) != b"x" or "\n".encode(encoding) != b"\n":
                raise LookupError
        except LookupError:
            raise self.fail(f"[input] encoding {encoding!r} is not an ASCII-compatible "
                            "encoding Python knows (utf-8, latin-1, cp1252, ...)") from None
        columns = table.get("columns")
        if columns is not None and (not isinstance(columns, list) or not columns or
                                    not all(isinstance(c, str) and c for c in columns)):
            raise self.fail(f"[input] columns must be a list of column names, got {columns!r}")
        zone = self.text(table.get("timezone", ""), "[input] timezone")
        if not zone:
            raise self.fail("[input] timezone is required: the IANA zone of times written "
                            "without an offset (e.g. \"Europe/Rome\", or \"UTC\")")
        self.zone(zone, "[input] timezone")
        time_format = self.time_format(table.get("time_format", "iso"), "[input] time_format")
        ambiguous = table.get("ambiguous", "earlier")
        if ambiguous not in ("earlier", "later"):
            raise self.fail(f"[input] ambiguous must be \"earlier\" or \"later\", got "
                            f"{ambiguous!r}")
        order_by = table.get("order_by")
        if order_by is not None:
            self.text(order_by, "[input] order_by")
        return InputSpec(fmt, table.get("delimiter", ","), table.get("quotechar", '"'),
                         encoding, tuple(columns) if columns else None, zone, time_format,
                         ambiguous, order_by)

    def zone(self, name: str, where: str) -> ZoneInfo:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(f"{where} {name!r} is not an IANA time zone (e.g. "
                            "\"Europe/Rome\", \"UTC\")") from None

    def time_format(self, value: Any, where: str) -> tuple[str, ...]:
        """One format, or a list of them tried in order."""
        items = list(value) if isinstance(value, list | tuple) else [value]
        if not items:
            raise self.fail(f"{where} is an empty list: name at least one format")
        out = []
        for item in items:
            text = self.text(item, where)
            if text not in NAMED_TIME_FORMATS and "%" not in text:
                raise self.fail(f"{where} {text!r} is neither a strptime format (\"%Y-%m-%d "
                                f"%H:%M:%S\") nor one of {', '.join(NAMED_TIME_FORMATS)}")
            out.append(text)
        return tuple(out)

    def values(self, raw: Any) -> dict[str, dict[str, str]]:
        maps: dict[str, dict[str, str]] = {}
        for name, table in self.table(raw, "[values]", tuple(raw) if isinstance(raw, Mapping)
                                      else ()).items():
            if name in BUILTINS:
                raise self.fail(f"[values.{name}] has the name of a built-in filter; choose "
                                "another")
            if not isinstance(table, Mapping) or not all(isinstance(v, str)
                                                         for v in table.values()):
                raise self.fail(f"[values.{name}] must be a table of \"source value\" = "
                                "\"ccpulse value\"")
            maps[name] = {str(k): v for k, v in table.items()}
        return maps

    def times(self, raw: Any, inp: InputSpec) -> dict[str, TimeSpec]:
        names = tuple(raw) if isinstance(raw, Mapping) else ()
        table = self.table(raw, "[times]", names)
        out: dict[str, TimeSpec] = {}
        for name, value in table.items():
            where = f"[times] {name}"
            if isinstance(value, str):
                value = {"value": value}
            spec = self.table(value, where, ("value", "after", "plus_seconds", "not_before",
                                             "rolls_over_after", "slack_seconds",
                                             "absent_when", "format", "timezone"))
            if ("value" in spec) == ("after" in spec):
                raise self.fail(f"{where} needs either value (a template) or after (another "
                                "time), not both")
            if "plus_seconds" in spec and "after" not in spec:
                raise self.fail(f"{where} plus_seconds goes with after")
            if "rolls_over_after" in spec and "value" not in spec:
                raise self.fail(f"{where} rolls_over_after goes with value (a clock time read "
                                "from the row)")
            if "absent_when" in spec and ("value" not in spec or "not_before" not in spec):
                raise self.fail(f"{where} absent_when goes with value and not_before (the time "
                                "it is when the row has none)")
            if "slack_seconds" in spec and "rolls_over_after" not in spec:
                raise self.fail(f"{where} slack_seconds goes with rolls_over_after")
            slack = spec.get("slack_seconds", 0)
            if isinstance(slack, bool) or not isinstance(slack, int | float) or slack < 0:
                raise self.fail(f"{where} slack_seconds must be a number of seconds >= 0, got "
                                f"{slack!r}")
            zone_name = self.text(spec.get("timezone", inp.timezone), f"{where} timezone")
            out[name] = TimeSpec(
                name,
                self.template(spec["value"], where) if "value" in spec else None,
                self.text(spec["after"], f"{where} after") if "after" in spec else None,
                self.template(spec["plus_seconds"], f"{where} plus_seconds")
                if "plus_seconds" in spec else None,
                self.text(spec["not_before"], f"{where} not_before")
                if "not_before" in spec else None,
                self.time_format(spec.get("format", inp.time_format), f"{where} format"),
                self.zone(zone_name, f"{where} timezone"), inp.ambiguous,
                self.text(spec["rolls_over_after"], f"{where} rolls_over_after")
                if "rolls_over_after" in spec else None,
                float(slack),
                self.conditions(spec["absent_when"], where, "absent_when")
                if "absent_when" in spec else ())
        for spec in out.values():
            for key, other in (("after", spec.after), ("not_before", spec.not_before),
                               ("rolls_over_after", spec.rolls_over_after)):
                if other is not None and other not in out:
                    raise self.fail(f"[times] {spec.name} {key} names time {other!r}, which "
                                    f"[times] does not define (times: {', '.join(out)})")
        for spec in out.values():  # no time may depend on itself
            seen, todo = set(), [spec.name]
            while todo:
                current = out[todo.pop()]
                for other in (current.after, current.not_before, current.rolls_over_after):
                    if other == spec.name:
                        raise self.fail(f"[times] {spec.name} depends on itself")
                    if other is not None and other not in seen:
                        seen.add(other)
                        todo.append(other)
        return out

    def conditions(self, raw: Any, where: str, key: str = "when") -> tuple[Condition, ...]:
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for n, item in enumerate(items, start=1):
            here = f"{where} {key}" + (f" {n}" if len(items) > 1 else "")
            table = self.table(item, here, ("first", "value", "in", "not_in", "changed"))
            if "first" in table:
                if len(table) != 1 or not isinstance(table["first"], bool):
                    raise self.fail(f"{here}: first = true|false stands alone")
                if not self.entity:
                    raise self.fail(f"{here}: first needs an [entity] key (the first row of "
                                    "what?)")
                out.append(Condition(first=table["first"]))
                continue
            if "value" not in table or len(table) == 1:
                raise self.fail(f"{here} needs value and at least one of in, not_in, changed "
                                "(or first = true|false)")
            lists = {}
            for key in ("in", "not_in"):
                if key in table:
                    if not isinstance(table[key], list):
                        raise self.fail(f"{here} {key} must be a list of strings, got "
                                        f"{table[key]!r}")
                    lists[key] = tuple(self.template(v, f"{here} {key}") for v in table[key])
            changed = table.get("changed")
            if changed is not None:
                if not isinstance(changed, bool):
                    raise self.fail(f"{here} changed must be true or false")
                if not self.entity:
                    raise self.fail(f"{here}: changed needs an [entity] key (changed since "
                                    "the previous row of what?)")
            out.append(Condition(None, self.template(table["value"], f"{here} value"),
                                 lists.get("in"), lists.get("not_in"), changed))
        return tuple(out)

    def skip(self, n: int, raw: Any) -> SkipRule:
        label = f"[[skip]] {n}"
        table = self.table(raw, label, ("when", "reason"))
        if "when" not in table or "reason" not in table:
            raise self.fail(f"{label} needs when and reason")
        reason = self.text(table["reason"], f"{label} reason")
        if not _REASON.fullmatch(reason):
            raise self.fail(f"{label} reason {reason!r} must be a short code (letters, digits, "
                            "'_', '.', ':', '-'; e.g. \"ignored:never_queued\")")
        return SkipRule(label, self.conditions(table["when"], label), reason)

    def field(self, name: str, value: Any, where: str) -> FieldSpec:
        if name in ENVELOPE_MADE:
            raise self.fail(f"{where}: {name} is made by the connector, not mapped")
        if isinstance(value, str):
            return FieldSpec(name, self.template(value, where))
        if isinstance(value, Mapping):
            table = self.table(value, where, ("value", "as"))
            as_type = table.get("as", "string")
            if as_type not in FIELD_TYPES:
                raise self.fail(f"{where} as {as_type!r} is not one of "
                                f"{', '.join(FIELD_TYPES)}")
            if "value" not in table:
                raise self.fail(f"{where} needs value")
            return FieldSpec(name, self.template(table["value"], where), None, as_type)
        if isinstance(value, bool | int | float | list):
            return FieldSpec(name, None, value)
        raise self.fail(f"{where} must be a template string, a constant or "
                        f"{{ value = \"...\", as = \"int\" }}, got {value!r}")

    def event(self, n: int, raw: Any, times: Mapping[str, TimeSpec],
              common: tuple[FieldSpec, ...]) -> EventSpec:
        event_type = raw.get("type") if isinstance(raw, Mapping) else None
        label = f"[[event]] {n}" + (f" ({event_type})" if isinstance(event_type, str) else "")
        table = self.table(raw, label, ("type", "at", "when", "fields", "set"))
        from streams.core.events import EVENT_TYPES
        if event_type not in EVENT_TYPES:
            raise self.fail(f"{label} type {event_type!r} is not an event type of the "
                            "contract (docs/contract.md §1)")
        at = table.get("at")
        if at is None:
            if len(times) != 1:
                raise self.fail(f"{label} needs at, the name of one of [times] "
                                f"({', '.join(times) or 'none defined'})")
            at = next(iter(times))
        if at not in times:
            raise self.fail(f"{label} at names time {at!r}, which [times] does not define "
                            f"(times: {', '.join(times) or 'none'})")
        fields_raw = table.get("fields", {})
        fields = tuple(self.field(k, v, f"{label} fields.{k}") for k, v in
                       self.table(fields_raw, f"{label} fields",
                                  tuple(fields_raw) if isinstance(fields_raw, Mapping)
                                  else ()).items())
        if self.required is not None:
            have = {f.name for f in (*common, *fields)}
            missing = sorted(self.required.get(event_type, frozenset()) - have - ENVELOPE_MADE)
            if missing:
                raise self.fail(f"{label} lacks required field(s) {', '.join(missing)} "
                                "(docs/contract.md §1)")
        sets_raw = table.get("set", {})
        sets = []
        for slot, value in self.table(sets_raw, f"{label} set",
                                      tuple(sets_raw) if isinstance(sets_raw, Mapping)
                                      else ()).items():
            if not self.entity:
                raise self.fail(f"{label} set needs an [entity] key (remembered for what?)")
            if not _SLOT.fullmatch(slot):
                raise self.fail(f"{label} set.{slot}: a slot name is letters, digits and '_'")
            sets.append((slot, self.template(value, f"{label} set.{slot}")))
        return EventSpec(label, n, event_type, at,
                         self.conditions(table["when"], label) if "when" in table else (),
                         fields, tuple(sets))
