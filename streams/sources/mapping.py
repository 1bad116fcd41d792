"""The mapping engine: one row of an export to contract events, by a checked mapping.

Pure (no I/O): :class:`RowMapper` is the connector's :class:`~streams.sources.base.Mapper`;
the reading shell (:mod:`streams.sources.csv_mapping`) hands it :class:`Row` records. For each
row, in order:

1. the ``[[skip]]`` rules: the first that holds skips the row under its reason, as if the row
   were not there (the entity's memory is untouched);
2. every ``[[event]]`` whose ``when`` holds gives one event (in the order of the file), and its
   ``set`` updates the entity's slots at once, so later events of the row see them;
3. a row that gives no event is ``ignored:no_event``; it still counts as a row of its entity.

A row maps whole or not at all: a bad time, a value no map knows, a missing column anywhere
skips the row (by reason) and leaves the entity's memory as it was. Per-entity memory (first
row, values for ``changed``, slots) is JSON-able for the checkpoint.

Event ids are :func:`~streams.sources.base.stable_id` of the ``[ids]`` prefix, the row's
identity (the ``[ids] key`` values, by default the whole row's content) and the event's place
in the mapping: the same row gives the same ids on every run, from any file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

import orjson

from streams.sources.base import Mapped, Record, Skipped, stable_id
from streams.sources.mapping_spec import (
    Condition,
    EventSpec,
    FieldSpec,
    MappingSpec,
    TimeSpec,
)
from streams.sources.mapping_template import Ref, RowError, Template, render, time_ref

#: Multipliers of the epoch time formats, to microseconds.
EPOCH_US: Final = {"epoch_s": 1_000_000, "epoch_ms": 1_000, "epoch_us": 1}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TRUE: Final = frozenset({"true", "yes", "y", "1", "t"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "f"})


@dataclass(frozen=True)
class Row:
    """One data row: its values (CSV: column -> text; JSON lines: the object), its number
    among the file's data rows (from 1) and the line of the file it starts on."""

    values: Mapping[str, Any]
    number: int
    line: int


@dataclass(frozen=True)
class BadRow:
    """What the reader could not make a row of (``bad_csv``, ``not_json``, ...)."""

    reason: str
    detail: str


def parse_time(text: str, time_format: str | Sequence[str], zone: ZoneInfo,
               ambiguous: str = "earlier") -> datetime:
    """``text`` as an aware UTC datetime, exact to the microsecond. ``time_format`` is one
    format or several, tried in order (the first that parses wins). A time without an offset
    is wall time in ``zone``: in a repeated hour (DST ends) the ``ambiguous`` one, and a time
    in a skipped hour (DST starts) is a :class:`RowError` ``bad_time``."""
    return localise(read_time(text, time_format), zone, ambiguous, text.strip())


def read_time(text: str, time_format: str | Sequence[str]) -> datetime:
    """``text`` as written: a naive wall time, or an aware time (an offset, or epoch: UTC).
    Raises :class:`RowError` ``bad_time`` naming the formats tried."""
    text = text.strip()
    if not text:
        raise RowError("bad_time", "the time is empty")
    formats = (time_format,) if isinstance(time_format, str) else tuple(time_format)
    for fmt in formats:
        try:
            if fmt in EPOCH_US:
                micros = int(Decimal(text) * EPOCH_US[fmt])
                return _EPOCH + timedelta(microseconds=micros)
            return datetime.fromisoformat(text) if fmt == "iso" else datetime.strptime(text, fmt)
        except (ValueError, InvalidOperation, OverflowError):
            continue
    shown = ", ".join("ISO 8601" if f == "iso" else repr(f) for f in formats)
    what = "the format" if len(formats) == 1 else "any of the formats"
    raise RowError("bad_time", f"{text!r} is not a time in {what} {shown}")


def localise(moment: datetime, zone: ZoneInfo, ambiguous: str = "earlier",
             text: str | None = None) -> datetime:
    """A time from :func:`read_time` (written as ``text``) as an aware UTC datetime (see
    :func:`parse_time`)."""
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    local = moment.replace(tzinfo=zone, fold=1 if ambiguous == "later" else 0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != moment:
        shown = text if text is not None else moment.isoformat(" ")
        raise RowError("bad_time", f"{shown!r} does not exist in {zone.key} (the hour skipped "
                                   "when daylight saving time starts)")
    return instant


def json_text(value: Any) -> str:
    """A JSON value as the text a template sees: null is empty, true is ``true``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


_MISSING: Final = object()


def lookup_path(values: Mapping[str, Any], name: str) -> Any:
    """A column's value: the key itself, else a dotted path into nested objects."""
    if name in values:
        return values[name]
    current: Any = values
    for piece in name.split("."):
        if not isinstance(current, Mapping) or piece not in current:
            return _MISSING
        current = current[piece]
    return current


class RowMapper:
    """Rows to events by ``spec`` (see the module docstring)."""

    def __init__(self, spec: MappingSpec) -> None:
        self.spec = spec
        #: entity key -> {"last": {template: value}, "slots": {slot: value}}
        self.entities: dict[str, dict[str, dict[str, str]]] = {}
        self._tracked = sorted({c.value.source: c.value for rule in (*spec.skips, *spec.events)
                                for c in rule.when if c.changed is not None and c.value
                                is not None}.items())

    # --- the Mapper protocol -------------------------------------------------------------

    def map(self, record: Record) -> Mapped:
        data = record.data
        if isinstance(data, BadRow):
            return [Skipped(data.reason, data.detail)]
        try:
            return self._map(data)
        except RowError as exc:
            return [Skipped(exc.reason, exc.detail)]

    def state(self) -> dict[str, Any]:
        return {"entities": self.entities} if self.entities else {}

    def restore(self, state: Mapping[str, Any]) -> None:
        entities = state.get("entities") or {}
        self.entities = {str(k): {"last": dict(v.get("last", {})),
                                  "slots": dict(v.get("slots", {}))}
                         for k, v in entities.items()}

    def time_of(self, row: Row, name: str) -> int | None:
        """The row's time ``name`` in epoch microseconds (None when it cannot be read): the
        sort key of ``[input] order_by``."""
        try:
            moment = _RowScope(self, row, None).time(name)
        except RowError:
            return None
        return (moment - _EPOCH) // timedelta(microseconds=1)

    # --- one row -------------------------------------------------------------------------

    def _map(self, row: Row) -> Mapped:
        spec = self.spec
        key = None
        memory: dict[str, dict[str, str]] | None = None
        if spec.entity is not None:
            key = _RowScope(self, row, None).text(spec.entity)
            if not key:
                raise RowError("missing_value", f"the [entity] key {spec.entity.source!r} is "
                                                "empty")
            known = self.entities.get(key)
            memory = {"last": dict(known["last"]), "slots": dict(known["slots"])} \
                if known is not None else None
        scope = _RowScope(self, row, memory)
        for rule in spec.skips:
            if scope.holds(rule.when):
                return [Skipped(rule.reason, f"{rule.label} holds ({scope.shown(rule.when)})")]
        out: Mapped = []
        identity = self._identity(scope, row)
        for event in spec.events:
            if scope.holds(event.when):
                out.append(self._event(scope, event, identity))
                for slot, template in event.sets:
                    scope.slots[slot] = scope.text(template)
        if key is not None:
            last = {source: scope.text(template) for source, template in self._tracked}
            self.entities[key] = {"last": last, "slots": scope.slots}
        if not out:
            return [Skipped("ignored:no_event", "no [[event]] applies to this row")]
        return out

    def _identity(self, scope: _RowScope, row: Row) -> list[str]:
        if self.spec.id_key is None:
            return [orjson.dumps(dict(row.values), option=orjson.OPT_SORT_KEYS).decode()]
        return [scope.text(t) for t in self.spec.id_key]

    def _event(self, scope: _RowScope, event: EventSpec, identity: list[str]) -> dict[str, Any]:
        moment = scope.time(event.at)
        zone = self.spec.times[event.at].zone
        out: dict[str, Any] = {
            "event_id": stable_id(self.spec.id_prefix, *identity, event.index),
            "type": event.type,
            "occurred_at": moment.astimezone(zone).isoformat(),
        }
        for field in (*self.spec.common, *event.fields):
            value = scope.field(field)
            if value is None:
                out.pop(field.name, None)  # an event's empty field also hides a common one
            else:
                out[field.name] = value
        return out


class _RowScope:
    """Evaluating templates, times and conditions for one row (with the entity's working
    memory, or None when the row's entity is new or there is no entity)."""

    def __init__(self, mapper: RowMapper, row: Row, memory: dict[str, dict[str, str]] | None
                 ) -> None:
        self.spec = mapper.spec
        self.row = row
        self.first = memory is None
        self.last = memory["last"] if memory is not None else {}
        self.slots: dict[str, str] = memory["slots"] if memory is not None else {}
        self._times: dict[str, datetime] = {}

    def lookup(self, ref: Ref) -> str:
        name = ref.name
        if name == "_row":
            return str(self.row.number)
        if name == "_line":
            return str(self.row.line)
        if name.startswith("@"):
            return self.slots.get(name[1:], "")
        target = time_ref(name)
        if target is not None:
            time, fmt = target
            local = self.time(time).astimezone(self.spec.times[time].zone)
            return local.isoformat() if fmt is None else local.strftime(fmt)
        value = lookup_path(self.row.values, name)
        if value is _MISSING:
            if ref.optional:
                return ""
            raise RowError("missing_column", f"the row has no {name!r}")
        return json_text(value)

    def text(self, template: Template) -> str:
        return render(template, self.lookup, self.spec.maps)

    def time(self, name: str) -> datetime:
        if name not in self._times:
            self._times[name] = self._compute(self.spec.times[name])
        return self._times[name]

    def _compute(self, spec: TimeSpec) -> datetime:
        if spec.absent_when and self.holds(spec.absent_when):
            assert spec.not_before is not None
            return self.time(spec.not_before)   # no time in the row: the earliest it can be
        if spec.value is not None:
            text = self.text(spec.value)
            try:
                wall = read_time(text, spec.time_format)
                moment = localise(wall, spec.zone, spec.ambiguous, text.strip())
                if spec.rolls_over_after is not None:
                    since = self.time(spec.rolls_over_after)
                    if moment < since - timedelta(seconds=spec.slack_seconds):
                        # Past midnight: the next calendar day at the same wall time, so a
                        # DST change that night is right (23 or 25 hours later).
                        moment = (wall + timedelta(days=1)).astimezone(UTC) \
                            if wall.tzinfo is not None else \
                            localise(wall + timedelta(days=1), spec.zone, spec.ambiguous)
            except RowError as exc:
                if exc.detail.startswith("[times] "):  # the time it rolls over after
                    raise
                raise RowError(exc.reason, f"[times] {spec.name}: {exc.detail}") from None
        else:
            assert spec.after is not None
            moment = self.time(spec.after)
            if spec.plus_seconds is not None:
                text = self.text(spec.plus_seconds)
                try:
                    micros = int(Decimal(text.strip()) * 1_000_000)
                except (InvalidOperation, ValueError):
                    raise RowError("bad_number", f"[times] {spec.name} plus_seconds {text!r} "
                                                 "is not a number of seconds") from None
                moment = moment + timedelta(microseconds=micros)  # UTC: real elapsed time
        if spec.not_before is not None:
            moment = max(moment, self.time(spec.not_before))
        return moment

    def holds(self, conditions: tuple[Condition, ...]) -> bool:
        return all(self._holds(c) for c in conditions)

    def _holds(self, condition: Condition) -> bool:
        if condition.first is not None:
            return condition.first == self.first
        assert condition.value is not None
        value = self.text(condition.value)
        if condition.is_in is not None and value not in {self.text(t) for t in
                                                         condition.is_in}:
            return False
        if condition.not_in is not None and value in {self.text(t) for t in condition.not_in}:
            return False
        if condition.changed is not None:
            changed = not self.first and self.last.get(condition.value.source) != value
            if changed != condition.changed:
                return False
        return True

    def shown(self, conditions: tuple[Condition, ...]) -> str:
        """The values a rule tested, for the skip's detail."""
        parts = [f"{c.value.source} = {self.text(c.value)!r}" for c in conditions
                 if c.value is not None]
        return ", ".join(parts) or "first row" if conditions else "always"

    def field(self, field: FieldSpec) -> Any:
        if field.template is None:
            return field.constant
        text = self.text(field.template)
        if text == "":
            return None
        try:
            if field.as_type == "int":
                return int(text.strip())
            if field.as_type == "number":
                number = Decimal(text.strip())
                return int(number) if number == number.to_integral_value() else float(number)
            if field.as_type == "bool":
                lowered = text.strip().lower()
                if lowered in _TRUE or lowered in _FALSE:
                    return lowered in _TRUE
                raise ValueError
        except (ValueError, InvalidOperation):
            raise RowError("bad_value", f"{field.name} {text!r} is not {field.as_type}") \
                from None
        return text
