"""The JSON Schemas in ``schemas/``: valid Draft 2020-12, one per contract §1 type, examples pass.

The examples are also checked with the pure-Python ``jsonschema`` implementation, so the
schemas are known to work for producers that do not use jsonschema-rs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import orjson
import pytest
from referencing import Registry, Resource

from streams.core.events import EVENT_TYPES, Event
from streams.core.timestamps import parse_us
from streams.errors import CcpulseError
from streams.validation import (
    SCHEMA_BASE_URI,
    SCHEMA_DIR,
    SCHEMA_DIR_ENV,
    compile_validators,
    decode,
    load_schemas,
    schema_dir,
)

SCHEMAS = load_schemas(SCHEMA_DIR)
TYPE_SCHEMAS = {name: doc for name, doc in SCHEMAS.items() if name != "envelope"}

#: The "extra required" columns of contract §1.2–§1.6, typed in by hand from the contract.
SPEC_REQUIRED: dict[str, set[str]] = {
    "call.queued": {"call_id", "queue"},
    "call.answered": {"call_id", "queue", "agent_id"},
    "call.abandoned": {"call_id", "queue"},
    "call.flowed_out": {"call_id", "queue", "reason"},
    "call.blocked": {"call_id", "reason"},
    "call.hold_started": {"call_id", "agent_id"},
    "call.hold_ended": {"call_id", "agent_id"},
    "call.transferred": {"call_id", "agent_id"},
    "call.ended": {"call_id", "agent_id"},
    "call.wrapup_ended": {"call_id", "agent_id"},
    "chat.queued": {"chat_id", "queue"},
    "chat.answered": {"chat_id", "queue", "agent_id"},
    "chat.abandoned": {"chat_id", "queue"},
    "chat.flowed_out": {"chat_id", "queue", "reason"},
    "chat.transferred": {"chat_id", "agent_id"},
    "chat.message": {"chat_id", "sender"},
    "chat.ended": {"chat_id", "agent_id"},
    "chat.wrapup_ended": {"chat_id", "agent_id"},
    "ticket.created": {"ticket_id", "queue", "channel"},
    "ticket.assigned": {"ticket_id", "agent_id"},
    "ticket.replied": {"ticket_id", "author"},
    "ticket.status_changed": {"ticket_id", "status"},
    "ticket.updated": {"ticket_id"},
    "agent.state_changed": {"agent_id", "state"},
    "survey.responded": {"survey", "score"},
    "qa.reviewed": set(),  # categories OR score: an anyOf, tested in test_validation
    "customer.acquired": {"customer_id"},
    "customer.churned": {"customer_id"},
    "customer.revenue": {"customer_id", "amount", "currency"},
    "customer.interaction": {"customer_id", "kind"},
    "marketing.spend": {"amount", "currency"},
}


def _python_registry() -> Registry:
    """The schemas as a ``referencing`` registry, so ``$ref`` resolve without the network."""
    return Registry().with_resources(
        (doc["$id"], Resource.from_contents(doc)) for doc in SCHEMAS.values()
    )


class TestSchemaDocuments:
    @pytest.mark.parametrize("name", sorted(SCHEMAS), ids=sorted(SCHEMAS))
    def test_is_valid_draft_2020_12(self, name: str) -> None:
        doc = SCHEMAS[name]
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(doc)
        jsonschema_rs.meta.validate(doc)

    @pytest.mark.parametrize("name", sorted(SCHEMAS), ids=sorted(SCHEMAS))
    def test_id_is_the_base_uri_and_file_name(self, name: str) -> None:
        assert SCHEMAS[name]["$id"] == f"{SCHEMA_BASE_URI}{name}.json"

    @pytest.mark.parametrize("name", sorted(SCHEMAS), ids=sorted(SCHEMAS))
    def test_has_a_title_and_description_for_producers(self, name: str) -> None:
        assert SCHEMAS[name]["title"].strip()
        assert len(SCHEMAS[name]["description"]) > 40

    def test_every_file_is_utf8_json_ending_with_a_newline(self) -> None:
        for path in SCHEMA_DIR.glob("*.json"):
            text = path.read_text(encoding="utf-8")
            assert text.endswith("}\n"), path.name
            orjson.loads(text)

    def test_readme_names_every_schema_file(self) -> None:
        readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
        for name in TYPE_SCHEMAS:
            assert f"`{name}`" in readme, name


class TestEventTypeCoverage:
    def test_every_spec_event_type_has_exactly_one_schema(self) -> None:
        assert sorted(TYPE_SCHEMAS) == sorted(EVENT_TYPES)

    def test_compiled_validators_cover_every_event_type(self) -> None:
        assert sorted(compile_validators(SCHEMAS)) == sorted(EVENT_TYPES)

    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_type_is_a_const_equal_to_the_file_name(self, event_type: str) -> None:
        assert TYPE_SCHEMAS[event_type]["properties"]["type"] == {"const": event_type}

    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_refs_the_envelope(self, event_type: str) -> None:
        assert TYPE_SCHEMAS[event_type]["$ref"] == "envelope.json"

    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_requires_the_fields_the_spec_requires(self, event_type: str) -> None:
        assert set(TYPE_SCHEMAS[event_type].get("required", [])) == SPEC_REQUIRED[event_type]

    def test_envelope_requires_event_id_type_and_occurred_at(self) -> None:
        assert set(SCHEMAS["envelope"]["required"]) == {"event_id", "type", "occurred_at"}

    def test_extra_fields_are_never_forbidden(self) -> None:
        for name, doc in SCHEMAS.items():
            text = orjson.dumps(doc).decode()
            assert '"additionalProperties":false' not in text, name
            assert '"unevaluatedProperties":false' not in text, name


class TestExamples:
    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_example_decodes_to_an_event_of_its_type(self, event_type: str) -> None:
        for example in TYPE_SCHEMAS[event_type]["examples"]:
            now_us = parse_us(example["occurred_at"])
            event = decode(orjson.dumps(example), now_us)
            assert isinstance(event, Event), event
            assert event.type == event_type
            assert event.event_id == example["event_id"]

    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_example_is_valid_for_the_python_jsonschema_too(self, event_type: str) -> None:
        validator = jsonschema.Draft202012Validator(
            TYPE_SCHEMAS[event_type], registry=_python_registry()
        )
        for example in TYPE_SCHEMAS[event_type]["examples"]:
            assert list(validator.iter_errors(example)) == []

    @pytest.mark.parametrize("event_type", EVENT_TYPES, ids=EVENT_TYPES)
    def test_example_of_another_type_is_rejected(self, event_type: str) -> None:
        other = EVENT_TYPES[(EVENT_TYPES.index(event_type) + 1) % len(EVENT_TYPES)]
        example: dict[str, Any] = dict(TYPE_SCHEMAS[other]["examples"][0])
        validator = jsonschema.Draft202012Validator(
            TYPE_SCHEMAS[event_type], registry=_python_registry()
        )
        assert not validator.is_valid(example)


class TestSchemaDirectory:
    def test_environment_variable_names_the_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "envelope.json").write_bytes(orjson.dumps(SCHEMAS["envelope"]))
        monkeypatch.setenv(SCHEMA_DIR_ENV, str(tmp_path))
        assert schema_dir() == tmp_path
        assert list(load_schemas()) == ["envelope"]

    def test_missing_directory_is_a_clear_error_naming_the_variable(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(SCHEMA_DIR_ENV, str(tmp_path / "nowhere"))
        with pytest.raises(CcpulseError, match=f"JSON Schemas not found in .*{SCHEMA_DIR_ENV}"):
            load_schemas()

    def test_default_is_the_source_tree(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(SCHEMA_DIR_ENV, raising=False)
        assert schema_dir() == SCHEMA_DIR
        assert (SCHEMA_DIR / "envelope.json").is_file()


class TestOfflineReferences:
    def test_a_ref_outside_the_schema_directory_fails_instead_of_downloading(self) -> None:
        stray = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE_URI}stray.json",
            "properties": {"type": {"const": "stray"}, "x": {"$ref": "https://example.com/x.json"}},
        }
        with pytest.raises((jsonschema_rs.ReferencingError, ValueError)):
            compile_validators({**SCHEMAS, "stray": stray})
