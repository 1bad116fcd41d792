"""Asterisk ``queue_log`` lines to contract events (docs/contract.md §1.2, §1.4). Pure: no I/O.

The mapping, event by event, with the ``app_queue.c`` call that writes each line
(https://github.com/asterisk/asterisk/blob/master/apps/app_queue.c) and the reasons for each
choice, is in docs/sources/asterisk.md. In short:

- a caller's segment is (CALLID, QUEUENAME): ``ENTERQUEUE`` opens it (``call.queued``);
  ``CONNECT`` (``call.answered``), ``ABANDON`` and ``SYSCOMPAT`` (``call.abandoned``),
  ``EXITWITHTIMEOUT`` / ``EXITEMPTY`` / ``EXITWITHKEY`` / ``WITHDRAW`` (``call.flowed_out``)
  close it. An outcome is stamped at *queued time + the wait Asterisk logged* (CONNECT's
  holdtime, ABANDON's waittime, ...), so the wait ccpulse measures is the one ``app_queue``
  compares with the queue's ``servicelevel``; without the segment's ``ENTERQUEUE`` (the
  connector started mid-call) the line's own time is used.
- ``COMPLETEAGENT`` / ``COMPLETECALLER`` end the conversation (``call.ended``, then
  ``call.wrapup_ended`` after the queue's configured ``wrapup_seconds``); ``TRANSFER`` /
  ``BLINDTRANSFER`` / ``ATTENDEDTRANSFER`` add ``call.transferred`` before them.
- ``FULL`` / ``JOINEMPTY`` / ``JOINUNAVAIL`` / ``CLOSED`` are ``call.blocked``.
- member lines give ``agent.state_changed`` with the agent's queue list.

State kept across lines (JSON-able, saved with the checkpoint): open segments' queued times,
connected calls, each agent's queues, pauses, current call and pending end of wrap-up, and the
lines already seen in the current second (two identical lines in one second get distinct ids).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any, Final

from streams.sources.asterisk_ql_parse import (
    NOBODY,
    NOT_A_CALL,
    QueueLogLine,
    clean_agent,
    parse_line,
    whole_seconds,
)
from streams.sources.base import Mapped, Record, Skipped, rfc3339_us, stable_id

SOURCE: Final = "asterisk"
US: Final = 1_000_000
#: How long a segment or connected call is remembered without its end (stream time).
FORGET_AFTER_US: Final = 48 * 3600 * US
PRUNE_EVERY_US: Final = 3600 * US

#: Outcome events: contract type, flow-out reason, index of the wait (seconds) in the data.
#: ABANDON/EXITWITHTIMEOUT/EXITEMPTY write ``pos|origpos|waittime``, EXITWITHKEY
#: ``key|pos|origpos|waittime``, WITHDRAW ``pos|origpos|waittime|info``; SYSCOMPAT nothing.
OUTCOMES: Final[dict[str, tuple[str, str | None, int | None]]] = {
    "ABANDON": ("call.abandoned", None, 2),
    "SYSCOMPAT": ("call.abandoned", None, None),
    "EXITWITHTIMEOUT": ("call.flowed_out", "timeout", 2),
    "EXITEMPTY": ("call.flowed_out", "overflow", 2),
    "EXITWITHKEY": ("call.flowed_out", "caller_choice", 3),
    "WITHDRAW": ("call.flowed_out", "overflow", 2),
}
#: End of a conversation; transfers also give ``call.transferred``.
ENDINGS: Final = {"COMPLETEAGENT": False, "COMPLETECALLER": False, "TRANSFER": True,
                  "BLINDTRANSFER": True, "ATTENDEDTRANSFER": True}
#: Calls that never waited (written by dialplans through QueueLog(); app_queue itself only
#: sets QUEUESTATUS for them).
BLOCKED: Final = {"FULL": "no_capacity", "JOINEMPTY": "no_agents", "JOINUNAVAIL": "no_agents",
                  "CLOSED": "closed"}
#: Lines the contract has no use for, counted as ``ignored:<event>``.
IGNORED: Final = frozenset({"CONFIGRELOAD", "QUEUESTART", "INFO", "PENALTY", "RINGINUSE",
                            "RINGCANCELED", "AGENTDUMP", "DID", "OUTCALL"})
AGENT_EVENTS: Final = frozenset({"ADDMEMBER", "REMOVEMEMBER", "PAUSE", "UNPAUSE", "PAUSEALL",
                                 "UNPAUSEALL", "AGENTLOGIN", "AGENTLOGOFF",
                                 "AGENTCALLBACKLOGIN", "AGENTCALLBACKLOGOFF", "RINGNOANSWER"})


def _new_agent() -> dict[str, Any]:
    return {"queues": [], "known": False, "paused": [], "paused_all": False, "reason": "",
            "call": None, "off": False, "due": None, "last_us": None}


class AsteriskMapper:
    """queue_log lines (:class:`~streams.sources.base.Record` with the line as ``data``) to
    events. ``zone``: the switch's timezone, for ``YYYY-MM-DD HH:MM:SS`` times;
    ``wrapup_us``: after-call work per queue (``default_wrapup_us`` for the others), in
    microseconds; ``aliases``: AGENT field -> agent id."""

    def __init__(self, zone: tzinfo, *, default_wrapup_us: int = 0,
                 wrapup_us: Mapping[str, int] | None = None,
                 aliases: Mapping[str, str] | None = None) -> None:
        self._zone = zone
        self._default_wrapup_us = default_wrapup_us
        self._wrapup_us = dict(wrapup_us or {})
        self._aliases = dict(aliases or {})
        self.restore({})

    # -- state -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {"segments": self._segments, "calls": self._calls, "agents": self._agents,
                "second": self._second, "pruned_us": self._pruned_us}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._segments: dict[str, list[int]] = {
            k: list(v) for k, v in dict(state.get("segments") or {}).items()}
        self._calls: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in dict(state.get("calls") or {}).items()}
        self._agents: dict[str, dict[str, Any]] = {
            k: {**_new_agent(), **v} for k, v in dict(state.get("agents") or {}).items()}
        second = state.get("second") or {"at_us": None, "seen": {}}
        self._second: dict[str, Any] = {"at_us": second.get("at_us"),
                                        "seen": dict(second.get("seen") or {})}
        self._pruned_us: int | None = state.get("pruned_us")

    # -- mapping -----------------------------------------------------------------------------

    def map(self, record: Record) -> Mapped:
        line = parse_line(record.data, self._zone)
        if isinstance(line, Skipped):
            return [line]
        out: Mapped = self._flush_wrapups(line.at_us)
        key = self._line_key(line)
        event = line.event
        if event == "ENTERQUEUE":
            out += self._enter(line, key)
        elif event == "CONNECT":
            out += self._connect(line, key)
        elif event in OUTCOMES:
            out += self._outcome(line, key)
        elif event in ENDINGS:
            out += self._ending(line, key)
        elif event in BLOCKED:
            out += self._blocked(line, key)
        elif event in AGENT_EVENTS:
            out += self._member(line, key)
        elif event in IGNORED:
            out.append(Skipped(f"ignored:{event.lower()}", f"{event} carries no contact or "
                                                          "agent state"))
        else:
            out.append(Skipped("unknown_event", f"event {event[:40]!r} is not a queue_log "
                                                "event this connector knows"))
        self._prune(line.at_us)
        return out

    def _line_key(self, line: QueueLogLine) -> str:
        """The line, and how many identical lines came before it in the same second."""
        if self._second["at_us"] != line.at_us:
            self._second = {"at_us": line.at_us, "seen": {}}
        digest = hashlib.blake2b(line.text.encode(), digest_size=8).hexdigest()
        seen = self._second["seen"].get(digest, 0)
        self._second["seen"][digest] = seen + 1
        return f"{line.text}\x1f{seen}"

    def _event(self, kind: str, key: str, at_us: int, **fields: Any) -> dict[str, Any]:
        return {"event_id": stable_id("ast", key, kind), "type": kind,
                "occurred_at": rfc3339_us(at_us), "source": SOURCE,
                **{k: v for k, v in fields.items() if v is not None}}

    def _call_checks(self, line: QueueLogLine, *, queue: bool = True) -> Skipped | None:
        if line.callid in NOT_A_CALL:
            return Skipped("no_call", f"{line.event} without a caller uniqueid "
                                      f"({line.callid or 'empty'})")
        if queue and line.queue in NOBODY:
            return Skipped("no_queue", f"{line.event} of {line.callid} names no queue")
        return None

    # -- contacts ----------------------------------------------------------------------------

    def _enter(self, line: QueueLogLine, key: str) -> Mapped:
        problem = self._call_checks(line)
        if problem:
            return [problem]
        self._segments.setdefault(_segment(line), []).append(line.at_us)
        return [self._event("call.queued", key, line.at_us, call_id=line.callid,
                            queue=line.queue)]

    def _close_segment(self, line: QueueLogLine, wait_text: str | None) -> int:
        """Close the oldest open segment of the line's call and queue; its outcome time."""
        queued = self._segments.get(_segment(line))
        wait_s = whole_seconds(wait_text) if wait_text is not None else None
        if not queued:
            return line.at_us
        start = queued.pop(0)
        if not queued:
            del self._segments[_segment(line)]
        return start + wait_s * US if wait_s is not None else max(line.at_us, start)

    def _outcome(self, line: QueueLogLine, key: str) -> Mapped:
        problem = self._call_checks(line)
        if problem:
            return [problem]
        kind, reason, wait_index = OUTCOMES[line.event]
        at = self._close_segment(line, None if wait_index is None else line.field(wait_index))
        return [self._event(kind, key, at, call_id=line.callid, queue=line.queue,
                            reason=reason)]

    def _connect(self, line: QueueLogLine, key: str) -> Mapped:
        problem = self._call_checks(line)
        if problem:
            return [problem]
        agent = clean_agent(line.agent, self._aliases)
        if agent is None:
            return [Skipped("no_agent", f"CONNECT of {line.callid} names no agent")]
        at = self._close_segment(line, line.field(0))
        self._calls[line.callid] = {"queue": line.queue, "agent": agent, "answered_us": at}
        out: Mapped = [self._event("call.answered", key, at, call_id=line.callid,
                                   queue=line.queue, agent_id=agent)]
        record = self._agent(agent)
        record["call"] = line.callid
        record["due"] = None
        self._join(record, line.queue)
        out.append(self._agent_event(agent, key, at))
        return out

    def _ending(self, line: QueueLogLine, key: str) -> Mapped:
        problem = self._call_checks(line, queue=False)
        if problem:
            return [problem]
        call = self._calls.pop(line.callid, None) or {}
        agent = clean_agent(line.agent, self._aliases) or call.get("agent")
        if agent is None:
            return [Skipped("no_agent", f"{line.event} of {line.callid} names no agent")]
        queue = line.queue if line.queue not in NOBODY else call.get("queue")
        ended = max(line.at_us, call.get("answered_us") or line.at_us)
        wrapup = self._wrapup_us.get(queue or "", self._default_wrapup_us)
        out: Mapped = []
        if ENDINGS[line.event]:
            out.append(self._event("call.transferred", key, ended, call_id=line.callid,
                                   agent_id=agent))
        out.append(self._event("call.ended", key, ended, call_id=line.callid, agent_id=agent))
        out.append(self._event("call.wrapup_ended", key, ended + wrapup, call_id=line.callid,
                               agent_id=agent))
        record = self._agent(agent)
        if record["call"] in (None, line.callid):
            record["call"] = None
            if wrapup:
                record["due"] = [ended + wrapup, key]
            out.append(self._agent_event(agent, key, ended))
        return out

    def _blocked(self, line: QueueLogLine, key: str) -> Mapped:
        problem = self._call_checks(line, queue=False)
        if problem:
            return [problem]
        queue = None if line.queue in NOBODY else line.queue
        return [self._event("call.blocked", key, line.at_us, call_id=line.callid, queue=queue,
                            reason=BLOCKED[line.event])]

    # -- agents ------------------------------------------------------------------------------

    def _agent(self, agent: str) -> dict[str, Any]:
        return self._agents.setdefault(agent, _new_agent())

    @staticmethod
    def _join(record: dict[str, Any], queue: str) -> bool:
        """Learn that the agent serves ``queue`` (static members never log ADDMEMBER)."""
        if queue in NOBODY or queue in record["queues"]:
            return False
        record["queues"] = sorted({*record["queues"], queue})
        record["known"] = True
        return True

    def _member(self, line: QueueLogLine, key: str) -> Mapped:
        agent = clean_agent(line.agent, self._aliases)
        if agent is None:
            return [Skipped("no_agent", f"{line.event} names no agent")]
        record = self._agent(agent)
        event, queue = line.event, line.queue
        if event == "RINGNOANSWER":
            if not self._join(record, queue):
                return [Skipped("ignored:ringnoanswer", "a member did not answer (an "
                                "autopause is logged as its own PAUSE line)")]
        elif event == "ADDMEMBER":
            self._join(record, queue)
            record["off"] = False
            if line.field(0).upper() == "PAUSED":
                record["paused"] = sorted({*record["paused"], queue})
        elif event == "REMOVEMEMBER":
            record["queues"] = [q for q in record["queues"] if q != queue]
            record["paused"] = [q for q in record["paused"] if q != queue]
            record["known"] = True
        elif event in ("PAUSE", "PAUSEALL"):
            self._join(record, queue)
            if event == "PAUSEALL":
                record["paused_all"] = True
            elif queue not in NOBODY:
                record["paused"] = sorted({*record["paused"], queue})
            record["reason"] = line.field(0)
            record["due"] = None
        elif event in ("UNPAUSE", "UNPAUSEALL"):
            self._join(record, queue)
            record["paused_all"] = False
            record["paused"] = [] if event == "UNPAUSEALL" else [
                q for q in record["paused"] if q != queue]
            record["due"] = None
        elif event in ("AGENTLOGIN", "AGENTCALLBACKLOGIN"):
            record["off"] = False
        else:  # AGENTLOGOFF, AGENTCALLBACKLOGOFF
            record.update(off=True, call=None, due=None)
        return [self._agent_event(agent, key, line.at_us)]

    def _agent_event(self, agent: str, key: str, at_us: int) -> dict[str, Any]:
        """The agent's state now, at ``at_us`` -- moved on by a microsecond when the agent
        already has an event at or after it, so that an agent's events (ordered by time, then
        id, in the engine) keep the order of the lines."""
        record = self._agent(agent)
        if record["last_us"] is not None and at_us <= record["last_us"]:
            at_us = record["last_us"] + 1
        record["last_us"] = at_us
        state = _state(record)
        return self._event("agent.state_changed", key, at_us, agent_id=agent, state=state,
                           queues=list(record["queues"]) if record["known"] else None,
                           reason=record["reason"] or None if state == "not_ready" else None)

    def _flush_wrapups(self, now_us: int) -> Mapped:
        """Agents whose wrap-up ended at or before ``now_us``: their state after it."""
        due = sorted((record["due"][0], agent) for agent, record in self._agents.items()
                     if record["due"] is not None and record["due"][0] <= now_us)
        out: Mapped = []
        for at_us, agent in due:
            record = self._agents[agent]
            key = record["due"][1]
            record["due"] = None
            out.append(self._agent_event(agent, f"{key}\x1fwrapup-done", at_us))
        return out

    def _prune(self, now_us: int) -> None:
        if self._pruned_us is not None and now_us - self._pruned_us < PRUNE_EVERY_US:
            return
        self._pruned_us = now_us
        horizon = now_us - FORGET_AFTER_US
        for name in [k for k, v in self._segments.items() if v[-1] < horizon]:
            del self._segments[name]
        for callid in [k for k, v in self._calls.items() if v["answered_us"] < horizon]:
            del self._calls[callid]


def _segment(line: QueueLogLine) -> str:
    return f"{line.callid}\x1f{line.queue}"


def _state(record: Mapping[str, Any]) -> str:
    """offline > on_contact > after_contact_work > not_ready (paused in every queue it
    serves, or PAUSEALL) > available."""
    if record["off"]:
        return "offline"
    if record["call"]:
        return "on_contact"
    if record["due"]:
        return "after_contact_work"
    if record["known"] and not record["queues"]:
        return "offline"
    paused = set(record["paused"])
    if record["paused_all"] or (paused and paused >= set(record["queues"])):
        return "not_ready"
    return "available"
