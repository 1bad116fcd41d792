"""Bytes to :class:`~streams.core.events.Event`: the one decoder the worker and the replay share.

A message is decoded and checked once, at the edge, so the core only ever sees well-formed
events with the event time already in integer epoch microseconds (``streams.core.timestamps``,
the one RFC 3339 parser of the project). Anything else becomes an
:class:`Invalid` whose ``reason`` is a bounded code (a Prometheus label of
``cc_events_invalid_total``) and whose ``message`` tells the producer what to fix, naming the
field and the offending value (it goes to the dead-letter topic and the replay's stderr).

Checks, in order; the first failure wins (docs/contract.md §1.1):

1. UTF-8 JSON                                        -> ``not_json``
2. a JSON object                                     -> ``not_object``
3. ``type`` present and a string                     -> ``missing_field`` / ``wrong_type``
4. ``type`` is an event type of docs/contract.md §1              -> ``unknown_type``
5. the type's JSON Schema (``schemas/<type>.json``)  -> ``missing_field``, ``wrong_type``,
   ``bad_enum``, ``out_of_range``, ``bad_timestamp``, ``invalid``
6. ``occurred_at`` is a real RFC 3339 instant         -> ``bad_timestamp``
7. at most :data:`MAX_FUTURE_US` after ``now_us``     -> ``future_timestamp``
8. what a schema cannot express: a survey score on its scale, QA category scores inside
   their own ``[min, max]``                          -> ``out_of_range``

An optional top-level field sent as ``null`` means "absent": it is accepted and left out of
``Event.body``, so the core can rely on ``body.get(field, default)``.

The schemas are compiled once, on first use, and reused: the happy path is one ``orjson``
parse, one compiled ``is_valid`` call in Rust and one timestamp parse, with no exception built.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

import jsonschema_rs
import orjson

from streams.core.events import Event
from streams.core.timestamps import format_us, parse_us, shape_problem
from streams.errors import CcpulseError

#: Where the JSON Schemas live: ``schemas/`` at the root of the source tree. An installed
#: (non-editable) package has no source tree beside it, so the environment variable
#: :data:`SCHEMA_DIR_ENV` (set by the container image) names the directory instead.
#: (``__file__`` of the package, not of this module: a module compiled by mypyc has none while
#: its body runs, streams.compiled.)
SCHEMA_DIR: Final = Path(str(sys.modules["streams"].__file__)).resolve().parent.parent / "schemas"
SCHEMA_DIR_ENV: Final = "CCPULSE_SCHEMAS_DIR"
#: Base of every schema ``$id``; the registry maps these URIs to the files, so no ``$ref``
#: ever goes to the network.
SCHEMA_BASE_URI: Final = "https://ccpulse.dev/schemas/"
#: An event may be at most this far ahead of the engine clock (docs/contract.md §1.1: 5 minutes).
MAX_FUTURE_US: Final = 300_000_000

#: Every value ``Invalid.reason`` can take: the bounded label set of ``cc_events_invalid_total``.
REASONS: Final[tuple[str, ...]] = (
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "unknown_type",
    "bad_timestamp",
    "future_timestamp",
    "bad_enum",
    "out_of_range",
    "invalid",
)


#: Builds an :class:`Event` from a tuple of its fields without the named tuple's Python-level
#: ``__new__`` (one call less per event).
_new_event: Final = tuple.__new__


class Invalid(NamedTuple):
    """Why a message is not a valid event: a bounded ``reason`` code and a message for people."""

    reason: str
    message: str


# --------------------------------------------------------------------------------------------
# Timestamps


def _iso_us(epoch_us: int) -> str:
    """Epoch microseconds as an RFC 3339 UTC string, for messages."""
    return format_us(epoch_us)


# --------------------------------------------------------------------------------------------
# Schemas


def schema_dir() -> Path:
    """The schema directory: ``$CCPULSE_SCHEMAS_DIR`` when set, else the source tree's."""
    override = os.environ.get(SCHEMA_DIR_ENV)
    return Path(override) if override else SCHEMA_DIR


def load_schemas(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every schema document in ``directory`` (default :func:`schema_dir`), keyed by file name
    without ``.json``: ``envelope`` and one per event type (``call.queued``, ...).
    """
    directory = schema_dir() if directory is None else directory
    if not directory.is_dir():
        raise CcpulseError(
            f"JSON Schemas not found in {directory}: set {SCHEMA_DIR_ENV} to the schemas/ "
            "directory of the ccpulse source, or install ccpulse from a checkout (pip install -e .)"
        )
    paths = sorted(directory.glob("*.json"))
    return {path.stem: orjson.loads(path.read_bytes()) for path in paths}


def _refuse_retrieval(uri: str) -> Any:
    """Retriever of last resort: a ``$ref`` outside ``schemas/`` is a bug, never a download."""
    raise ValueError(f"schema {uri} is not in {schema_dir()}; every $ref must resolve offline")


def compile_validators(
    schemas: dict[str, dict[str, Any]],
) -> dict[str, jsonschema_rs.Validator]:
    """One compiled validator per event type, keyed by the ``const`` of its ``type`` property.

    All documents go into one registry under their ``$id`` so cross-file ``$ref`` resolve
    from memory.
    """
    registry = jsonschema_rs.Registry([(doc["$id"], doc) for doc in schemas.values()])
    validators = {}
    for doc in schemas.values():
        event_type = doc.get("properties", {}).get("type", {}).get("const")
        if event_type is not None:
            validators[event_type] = jsonschema_rs.validator_for(
                doc, registry=registry, retriever=_refuse_retrieval
            )
    return validators


#: The compiled validators of ``schemas/``, once built (:func:`_validators`).
_compiled: dict[str, jsonschema_rs.Validator] | None = None


def _validators() -> dict[str, jsonschema_rs.Validator]:
    """The compiled validators of ``schemas/``, built on first use and kept for the process."""
    global _compiled
    if _compiled is None:
        _compiled = compile_validators(load_schemas())
    return _compiled


# --------------------------------------------------------------------------------------------
# Decoding


def decode(raw: bytes | bytearray | memoryview | str, now_us: int | None = None) -> Event | Invalid:
    """Decode one message value into an :class:`Event`, or say why it is :class:`Invalid`.

    ``now_us`` is the engine clock (epoch µs) for the future-timestamp check; ``None`` skips
    that check (the replay, whose clock is the events' own).
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Invalid("not_json", f"the message is not UTF-8 JSON: {exc}")
    return decode_obj(obj, now_us)


def decode_obj(obj: Any, now_us: int | None = None) -> Event | Invalid:
    """Validate an already-parsed JSON value and build the :class:`Event`.

    ``Event.body`` is ``obj`` itself (top-level ``null`` fields dropped into a copy); a survey
    score sent as a whole float (``4.0``) is normalised in place to ``int``.
    """
    if not isinstance(obj, dict):
        return Invalid("not_object", f"the message is a JSON {_json_kind(obj)}, not an object")
    event_type = obj.get("type")
    validators = _compiled if _compiled is not None else _validators()
    if not isinstance(event_type, str) or (validator := validators.get(event_type)) is None:
        return _bad_type(obj, event_type)
    try:
        valid = validator.is_valid(obj)
    except (ValueError, TypeError, OverflowError) as exc:  # only from decode_obj callers
        return Invalid("invalid", f"{event_type} holds a value that is not JSON: {exc}")
    if not valid:
        return _explain(event_type, validator, obj)
    try:
        occurred_us = parse_us(obj["occurred_at"])
    except ValueError as exc:
        return Invalid("bad_timestamp", f"occurred_at {exc}")
    if now_us is not None and occurred_us - now_us > MAX_FUTURE_US:
        return _too_far_ahead(obj["occurred_at"], occurred_us, now_us)
    check = _SEMANTIC_CHECKS.get(event_type)
    if check is not None:
        problem = check(obj)
        if problem is not None:
            return problem
    if None in obj.values():
        obj = {key: value for key, value in obj.items() if value is not None}
    return _new_event(Event, (obj["event_id"], event_type, occurred_us, obj))


def _too_far_ahead(text: Any, occurred_us: int, now_us: int) -> Invalid:
    """The ``future_timestamp`` message: how far ahead, of which clock, and what to check."""
    return Invalid(
        "future_timestamp",
        f"occurred_at {_show(text)} is {(occurred_us - now_us) / 1e6:.3f} s after the engine "
        f"clock {_iso_us(now_us)}; at most {MAX_FUTURE_US // 1_000_000} s ahead is accepted "
        "(check the producer's clock)",
    )


def _bad_type(obj: dict[str, Any], event_type: Any) -> Invalid:
    """Why ``type`` does not select a schema: absent, not a string, or not an event type."""
    if "type" not in obj:
        return Invalid(
            "missing_field", "field 'type' is required (the event type, e.g. call.queued)"
        )
    if not isinstance(event_type, str):
        return Invalid(
            "wrong_type",
            f"field 'type' must be string, got {_json_kind(event_type)} {_show(event_type)}",
        )
    return Invalid("unknown_type",
                   f"type {_show(event_type)} is not an event type of docs/contract.md §1")


# --------------------------------------------------------------------------------------------
# Checks a JSON Schema cannot express


#: Survey kind -> (lowest score, default scale_max) (docs/contract.md §1.5).
_SURVEY_SCALES: Final[dict[str, tuple[int, int]]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def _check_survey(obj: dict[str, Any]) -> Invalid | None:
    """The score must lie on its survey's scale; NPS is always 0–10."""
    survey = obj["survey"]
    low, default_max = _SURVEY_SCALES[survey]
    scale_max = obj.get("scale_max")
    if scale_max is None:
        scale_max = default_max
    elif survey == "nps" and scale_max != 10:
        return Invalid(
            "out_of_range",
            f"scale_max {scale_max} is not allowed for nps: NPS is always scored 0–10",
        )
    score = obj["score"]
    if not low <= score <= scale_max:
        return Invalid("out_of_range", f"score {score} is off the {survey} scale {low}–{scale_max}")
    if score.__class__ is float:  # 4.0 is a JSON integer; keep the `score` label "4"
        obj["score"] = int(score)
    return None


def _check_qa(obj: dict[str, Any]) -> Invalid | None:
    """Each category's score lies in its own ``[min, max]``, ``min < max``, some weight > 0."""
    categories = obj.get("categories")
    if not categories:
        return None
    # Any, not int: weights, like scores, are JSON numbers (0.5 is valid); the compiled copy
    # (streams.compiled) checks a variable's declared type at run time.
    total_weight: Any = 0
    for index, category in enumerate(categories):
        low, high, score = category["min"], category["max"], category["score"]
        where = f"categories[{index}] ({_show(category['name'])})"
        if not low < high:
            return Invalid("out_of_range", f"{where}: min {low} must be below max {high}")
        if not low <= score <= high:
            return Invalid("out_of_range", f"{where}: score {score} is outside {low}–{high}")
        total_weight += category.get("weight", 1)
    if total_weight <= 0:
        return Invalid(
            "out_of_range", "categories: every weight is 0; at least one must be positive"
        )
    return None


_SEMANTIC_CHECKS: Final[dict[str, Callable[[dict[str, Any]], Invalid | None]]] = {
    "survey.responded": _check_survey,
    "qa.reviewed": _check_qa,
}


# --------------------------------------------------------------------------------------------
# Schema errors -> reason codes (error path only)

_K = jsonschema_rs.ValidationErrorKind
#: When several problems are found, the most basic one is reported: envelope fields first
#: (they are checked first conceptually, and event_id is the de-duplication key), then by reason.
_REASON_RANK: Final = {reason: rank for rank, reason in enumerate(REASONS)}
_ENVELOPE_FIELDS: Final = frozenset({"event_id", "type", "occurred_at", "schema_version", "source"})
#: A ``pattern`` failure on these fields has its own reason.
_PATTERN_REASON: Final = {"occurred_at": "bad_timestamp", "currency": "bad_enum"}


def _explain(event_type: str, validator: jsonschema_rs.Validator, obj: dict[str, Any]) -> Invalid:
    """Turn the schema's errors into one :class:`Invalid`: the most basic problem, plus a count."""
    errors = list(validator.iter_errors(obj))
    if not errors:  # is_valid and iter_errors disagree: never seen, but never crash on it
        return Invalid("invalid", f"{event_type} does not match its schema")
    if len(errors) > 1:  # "categories or score" fails as a consequence of a mistyped one
        errors = [e for e in errors if not isinstance(e.kind, _K.AnyOf)] or errors
    found = [_classify(event_type, error) for error in errors]
    order = sorted(range(len(found)), key=lambda i: (_rank(errors[i], found[i]), i))
    first = found[order[0]]
    if len(found) > 1:
        more = len(found) - 1
        return Invalid(first.reason, f"{first.message} (and {more} more problem{'s' * (more > 1)})")
    return first


def _rank(error: jsonschema_rs.ValidationError, invalid: Invalid) -> tuple[int, int]:
    """Sort key: envelope fields before type-specific ones, then the reason's rank."""
    path = error.instance_path
    kind = error.kind
    top = path[0] if path else (kind.property if isinstance(kind, _K.Required) else None)
    return (0 if top in _ENVELOPE_FIELDS else 1, _REASON_RANK[invalid.reason])


def _classify(event_type: str, error: jsonschema_rs.ValidationError) -> Invalid:
    """One schema error as a reason code and a message naming the field and the value."""
    kind = error.kind
    path = error.instance_path
    field = _field_name(path)
    value = error.instance
    if isinstance(kind, _K.Required):
        return Invalid(
            "missing_field",
            f"field '{_field_name([*path, kind.property])}' is required for {event_type}",
        )
    if isinstance(kind, _K.Type):
        expected = " or ".join(t for t in kind.types if t != "null") or "null"
        got = "null" if value is None else f"{_json_kind(value)} {_show(value)}"
        return Invalid("wrong_type", f"field '{field}' must be {expected}, got {got}")
    if isinstance(kind, _K.Enum):
        options = ", ".join(str(option) for option in kind.options if option is not None)
        return Invalid("bad_enum", f"field '{field}' is {_show(value)}, not one of: {options}")
    if isinstance(kind, _K.Constant):
        expected = _show(kind.expected_value)
        return Invalid("bad_enum", f"field '{field}' is {_show(value)}, expected {expected}")
    if isinstance(kind, (_K.Minimum, _K.ExclusiveMinimum)):
        return Invalid(
            "out_of_range", f"field '{field}' is {_show(value)}, below the minimum {kind.limit}"
        )
    if isinstance(kind, (_K.Maximum, _K.ExclusiveMaximum)):
        if field == "schema_version":
            return Invalid(
                "out_of_range",
                f"schema_version {_show(value)} is newer than this engine understands "
                f"({kind.limit}): upgrade ccpulse, then replay the dead letters",
            )
        return Invalid(
            "out_of_range", f"field '{field}' is {_show(value)}, above the maximum {kind.limit}"
        )
    if isinstance(kind, _K.MinLength):
        if kind.limit == 1:
            return Invalid("out_of_range", f"field '{field}' is an empty string")
        return Invalid("out_of_range", f"field '{field}' is shorter than {kind.limit} characters")
    if isinstance(kind, _K.MaxLength):
        return Invalid(
            "out_of_range",
            f"field '{field}' is {len(cast(str, value))} characters long, more than "
            f"{kind.limit}",
        )
    if isinstance(kind, _K.MinItems):
        return Invalid("out_of_range", f"field '{field}' is an empty list")
    if isinstance(kind, _K.Pattern):
        return _pattern_problem(field, value, kind.pattern)
    if isinstance(kind, _K.AnyOf) and not path and event_type == "qa.reviewed":
        return Invalid("missing_field", "qa.reviewed needs field 'categories' or field 'score'")
    return Invalid("invalid", f"field '{field}': {error.message}")


def _pattern_problem(field: str, value: Any, pattern: str) -> Invalid:
    """A string of the wrong shape: a timestamp, a currency code, or anything else."""
    reason = _PATTERN_REASON.get(field, "invalid")
    if reason == "bad_timestamp":
        return Invalid(reason, f"occurred_at {shape_problem(value)}")
    if reason == "bad_enum":
        return Invalid(
            reason,
            f"field '{field}' is {_show(value)}, not an ISO 4217 code (3 upper-case letters)",
        )
    return Invalid(reason, f"field '{field}' is {_show(value)}, which does not match {pattern}")


# --------------------------------------------------------------------------------------------
# Message helpers

_MAX_SHOWN: Final = 80


def _field_name(path: list[str | int]) -> str:
    """``['categories', 0, 'name']`` -> ``categories[0].name`` (``(event)`` for the root)."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(event)"


def _json_kind(value: Any) -> str:
    """The JSON type name of a decoded value (``bool`` before ``int``: it is a subclass)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    """A value quoted for a message: strings in single quotes, others as JSON, cut at 80 chars."""
    if isinstance(value, str):
        text = f"'{value}'"
    else:
        try:
            text = orjson.dumps(value).decode()
        except TypeError:
            text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = f"{text[: _MAX_SHOWN - 1]}… ({len(text)} chars)"
    return text
