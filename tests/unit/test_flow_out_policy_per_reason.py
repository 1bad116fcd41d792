"""``flow_outs`` given per flow-out reason (docs/contract.md §3.2, docs/configuration.md).

The point: Asterisk's SL2 counts a caller who timed out, found the queue empty or was withdrawn
as abandoned (``record_abandoned()`` in apps/app_queue.c) but one who left with a key
(EXITWITHKEY) in neither counter, so it is reproduced exactly only when ``caller_choice`` is
ignored and the other reasons are positive.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest
from kpi_helpers import Centre, us

from streams.core.config import (
    FLOW_OUT_MODES,
    FLOW_OUT_REASONS,
    FlowOutRules,
    ServiceLevelPolicy,
    parse_config,
)
from streams.core.engine import Engine, MemoryStore
from streams.errors import ConfigError

QUEUED = "2026-11-22T10:00:00Z"
NOW = "2026-11-22T10:10:00Z"  # the outcomes below fall in the 10:00-10:15 interval
THRESHOLD = 60
ASTERISK_SL2 = {
    "abandons": "positive",
    "short_abandon_seconds": 0,
    "threshold_seconds": THRESHOLD,
    "flow_outs": {"timeout": "positive", "overflow": "positive", "callback": "positive",
                  "caller_choice": "ignored"},
}


def _at(wait_s: int) -> str:
    minutes, seconds = divmod(wait_s, 60)
    return f"2026-11-22T10:{minutes:02d}:{seconds:02d}Z"


def centre(policy: dict[str, Any], calls: list[tuple[str, int]]) -> Centre:
    """Calls queued at 10:00 in queue ``q``, each leaving after ``wait_s`` seconds by
    ``outcome``: ``answered``, ``abandoned`` or a flow-out reason."""
    c = Centre(defaults={"service_level": policy})
    for number, (outcome, wait_s) in enumerate(calls, start=1):
        call_id = f"c{number}"
        c.event("call.queued", QUEUED, call_id=call_id, queue="q")
        if outcome == "answered":
            c.event("call.answered", _at(wait_s), call_id=call_id, queue="q", agent_id="a1")
        elif outcome == "abandoned":
            c.event("call.abandoned", _at(wait_s), call_id=call_id, queue="q")
        else:
            c.event("call.flowed_out", _at(wait_s), call_id=call_id, queue="q", reason=outcome)
    c.feed()
    return c


def window(c: Centre, name: str) -> Any:
    return c.value(NOW, name, queue="q", channel="voice", window="interval")


def met_and_counted(c: Centre) -> tuple[Any, Any]:
    return (window(c, "cc_window_contacts_service_level_met"),
            window(c, "cc_window_contacts_service_level_counted"))


#: One answered within T, and one flow-out within and one over T for every reason.
EVERY_REASON = [("answered", 10)] + [(reason, wait) for reason in FLOW_OUT_REASONS
                                     for wait in (30, 90)]


class TestTableForm:
    def test_a_table_of_reasons_parses_into_one_rule_per_reason(self):
        raw = tomllib.loads("""
[queues.support.service_level]
abandons = "positive"
short_abandon_seconds = 0
flow_outs = { timeout = "positive", overflow = "positive", callback = "positive", caller_choice = "ignored" }
""")  # noqa: E501 - the TOML line of docs/service-level.md
        policy = parse_config(raw).policy("support", "voice")
        assert policy.flow_outs == FlowOutRules(timeout="positive", caller_choice="ignored",
                                                overflow="positive", callback="positive")
        assert [policy.flow_out_rule(r) for r in FLOW_OUT_REASONS] == [
            "positive", "ignored", "positive", "positive"]

    def test_a_reason_not_named_in_the_table_is_ignored(self):
        policy = parse_config({"defaults": {"service_level": {
            "flow_outs": {"timeout": "negative"}}}}).policy("q", "voice")
        assert policy.flow_out_rule("timeout") == "negative"
        assert {policy.flow_out_rule(r) for r in FLOW_OUT_REASONS[1:]} == {"ignored"}
        assert policy.flow_out_rule("unknown") == "ignored"

    def test_the_policy_stays_frozen_and_hashable(self):
        policy = parse_config({"defaults": {"service_level": ASTERISK_SL2}}).policy("q", "voice")
        assert hash(policy) == hash(copy.deepcopy(policy))
        with pytest.raises(AttributeError):
            policy.flow_outs.timeout = "negative"  # type: ignore[misc]

    def test_a_channel_table_replaces_the_queues_table_whole(self):
        config = parse_config({"queues": {"q": {"service_level": {
            "flow_outs": {"timeout": "positive", "callback": "positive"},
            "chat": {"flow_outs": {"callback": "negative"}}}}}})
        assert config.policy("q", "voice").flow_out_rule("timeout") == "positive"
        chat = config.policy("q", "chat")
        assert (chat.flow_out_rule("timeout"), chat.flow_out_rule("callback")) == (
            "ignored", "negative")

    def test_a_channel_inherits_the_queues_table_unless_it_sets_its_own(self):
        config = parse_config({"defaults": {"service_level": {"chat": {"threshold_seconds": 90}}},
                               "queues": {"q": {"service_level": ASTERISK_SL2}}})
        chat = config.policy("q", "chat")
        assert chat.threshold_seconds == 90
        assert chat.flow_outs == config.policy("q", "voice").flow_outs


class TestErrors:
    @pytest.mark.parametrize(
        ("raw", "message"),
        [
            ({"defaults": {"service_level": {"flow_outs": {"voicemail": "positive"}}}},
             "unknown key defaults.service_level.flow_outs.voicemail; expected one of "
             "['timeout', 'caller_choice', 'overflow', 'callback'] (a reason not named is "
             "ignored)"),
            ({"queues": {"support": {"service_level": {"flow_outs": {"timeout": "met"}}}}},
             "queues.support.service_level.flow_outs.timeout must be one of "
             "['ignored', 'negative', 'positive'], got 'met'"),
            ({"queues": {"support": {"service_level": {"voice": {
                "flow_outs": {"caller_choice": 1}}}}}},
             "queues.support.service_level.voice.flow_outs.caller_choice must be one of "
             "['ignored', 'negative', 'positive'], got 1"),
            ({"defaults": {"service_level": {"flow_outs": "sometimes"}}},
             "defaults.service_level.flow_outs must be one of ['ignored', 'negative', "
             "'positive'], or a table of reason = rule with reasons ['timeout', "
             "'caller_choice', 'overflow', 'callback'], got 'sometimes'"),
            ({"defaults": {"service_level": {"flow_outs": ["timeout"]}}},
             "defaults.service_level.flow_outs must be one of ['ignored', 'negative', "
             "'positive'], or a table of reason = rule with reasons ['timeout', "
             "'caller_choice', 'overflow', 'callback'], got ['timeout']"),
        ],
        ids=["unknown-reason", "unknown-rule", "rule-not-a-string-in-a-channel",
             "unknown-string", "a-list"],
    )
    def test_an_invalid_flow_outs_is_one_line_naming_the_key_and_the_allowed_values(
            self, raw, message):
        with pytest.raises(ConfigError) as caught:
            parse_config(raw)
        assert str(caught.value) == message
        assert "\n" not in str(caught.value)


class TestEachReasonByItsRule:
    @pytest.mark.parametrize(
        ("rule", "expected"),
        [
            ("ignored", (1, 1)),  # A≤T / A
            ("negative", (1, 3)),  # A≤T / (A + F of that reason)
            ("positive", (2, 3)),  # (A≤T + F≤T of that reason) / (A + F of that reason)
        ],
        ids=["ignored", "negative", "positive"],
    )
    @pytest.mark.parametrize("reason", FLOW_OUT_REASONS)
    def test_a_reasons_rule_applies_to_that_reason_only(self, reason, rule, expected):
        c = centre({"threshold_seconds": THRESHOLD, "flow_outs": {reason: rule}}, EVERY_REASON)
        assert met_and_counted(c) == expected
        assert window(c, "cc_service_level_ratio") == pytest.approx(expected[0] / expected[1])

    def test_rules_of_several_reasons_add_up(self):
        c = centre({"threshold_seconds": THRESHOLD, "flow_outs": {
            "timeout": "positive", "overflow": "negative", "callback": "positive"}},
            EVERY_REASON)
        # A≤T 1 + timeout≤T 1 + callback≤T 1 over A 1 + timeout 2 + overflow 2 + callback 2
        assert met_and_counted(c) == (3, 7)

    def test_the_flow_out_totals_and_the_exported_series_do_not_depend_on_the_form(self):
        table = centre({"flow_outs": {"timeout": "positive"}}, EVERY_REASON)
        string = centre({"flow_outs": "positive"}, EVERY_REASON)
        assert window(table, "cc_window_contacts_flowed_out") == 8
        assert table.value(NOW, "cc_contacts_flowed_out_total", queue="q", channel="voice",
                           reason="caller_choice") == 2
        # the per-reason window fields add no series: the same names and labels either way
        assert set(table.values(NOW)) == set(string.values(NOW))
        assert not [name for name, _ in table.values(NOW) if ":" in name]


class TestStringFormUnchanged:
    @pytest.mark.parametrize(
        ("mode", "expected"),
        [
            ("ignored", (1, 1)),  # A≤T / A
            ("negative", (1, 9)),  # A≤T / (A + F)
            ("positive", (5, 9)),  # (A≤T + F≤T) / (A + F)
        ],
        ids=["ignored", "negative", "positive"],
    )
    def test_the_string_form_applies_to_every_reason_alike(self, mode, expected):
        c = centre({"threshold_seconds": THRESHOLD, "flow_outs": mode}, EVERY_REASON)
        assert met_and_counted(c) == expected

    @pytest.mark.parametrize("mode", FLOW_OUT_MODES)
    def test_the_string_is_kept_as_written(self, mode):
        policy = parse_config({"defaults": {"service_level": {"flow_outs": mode}}}).policy(
            "q", "voice")
        assert policy.flow_outs == mode
        assert {policy.flow_out_rule(r) for r in FLOW_OUT_REASONS} == {mode}

    def test_the_default_is_still_ignored(self):
        assert ServiceLevelPolicy().flow_outs == "ignored"
        assert parse_config({}).policy("q", "voice").flow_outs == "ignored"


class TestRestore:
    def test_a_stored_contact_of_the_previous_release_is_counted_per_reason(self):
        # The record format is unchanged (window fields are rebuilt from the records, never
        # stored): a record as a worker wrote it before per-reason policies restores, and its
        # flow-out is counted by its reason's rule.
        queued_us, left_us = us(QUEUED), us(_at(30))
        stored = {"kind": "contact", "v": 2, "p": 0, "ch": "voice", "ev": [
            [queued_us, 0, "e1", "queued", "q", None],
            [left_us, 1, "e2", "flowed_out", "q", "caller_choice"]]}
        for rule, expected in (("positive", (1, 1)), ("negative", (0, 1)), ("ignored", (0, 0))):
            config = parse_config({"defaults": {"service_level": {
                "threshold_seconds": THRESHOLD, "flow_outs": {"caller_choice": rule}}}})
            c = Centre(config)
            c.engine = Engine(config, MemoryStore())
            c.engine.rebuild([("call:c1", copy.deepcopy(stored))])
            assert met_and_counted(c) == expected, rule


# -- Asterisk's SL2, as apps/app_queue.c counts it ----------------------------------------------

#: A caller's way out of an Asterisk queue -> the event the Asterisk connector sends for it
#: (streams/sources/asterisk_ql_map.py): COMPLETE* is a call answered at CONNECT.
CONNECTOR = {"COMPLETECALLER": "answered", "ABANDON": "abandoned",
             "EXITWITHTIMEOUT": "timeout", "EXITEMPTY": "overflow", "WITHDRAW": "overflow",
             "EXITWITHKEY": "caller_choice"}
#: Exits that call record_abandoned(): counted in callsabandoned (and callsabandonedinsl
#: when ``now - qe->start <= servicelevel``). EXITWITHKEY does not call it.
RECORD_ABANDONED = {"ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "WITHDRAW"}


def asterisk_sl2(exits: list[tuple[str, int]], servicelevel: int) -> float:
    """``ServiceLevelPerf2`` of app_queue.c: (callsabandonedinsl + callscompletedinsl) /
    (callsabandoned + callscompleted)."""
    completed = completed_in_sl = abandoned = abandoned_in_sl = 0
    for event, wait_s in exits:
        if event == "COMPLETECALLER":  # callcompletedinsl is decided at CONNECT
            completed += 1
            completed_in_sl += wait_s <= servicelevel
        elif event in RECORD_ABANDONED:
            abandoned += 1
            abandoned_in_sl += wait_s <= servicelevel
    return (abandoned_in_sl + completed_in_sl) / (abandoned + completed)


#: Every way out, within and over the service level (60 s exactly is within, as in Asterisk).
ASTERISK_EXITS = [(event, wait) for event in CONNECTOR for wait in (THRESHOLD, 95)] + [
    ("COMPLETECALLER", 5), ("EXITWITHKEY", 12), ("EXITWITHKEY", 20)]


class TestAsteriskSL2:
    def test_caller_choice_ignored_and_the_other_reasons_positive_reproduce_sl2_exactly(self):
        expected = asterisk_sl2(ASTERISK_EXITS, THRESHOLD)
        assert expected == 6 / 11  # completed 3 (2 in SL) + abandoned 8 (4 in SL); keys 0
        c = centre(ASTERISK_SL2, [(CONNECTOR[e], wait) for e, wait in ASTERISK_EXITS])
        assert window(c, "cc_service_level_ratio") == expected
        assert met_and_counted(c) == (6, 11)

    def test_every_flow_out_positive_counts_the_key_exits_asterisk_leaves_out(self):
        c = centre({**ASTERISK_SL2, "flow_outs": "positive"},
                   [(CONNECTOR[e], wait) for e, wait in ASTERISK_EXITS])
        assert met_and_counted(c) == (6 + 3, 11 + 4)
        assert window(c, "cc_service_level_ratio") != asterisk_sl2(ASTERISK_EXITS, THRESHOLD)
