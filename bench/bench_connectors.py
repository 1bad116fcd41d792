"""Connector throughput: native records in, validated contract events out to a JSON-lines file.

Generates synthetic but realistic native inputs in a temporary directory, then runs each
connector in this process the way ``ccpulse connect SYSTEM ... --to FILE`` does:

- the pull connectors (Asterisk queue_log, Amazon Connect, CSV by mapping) through the CLI's
  own parser, the module's ``build(args, config)`` and :func:`streams.sources.run.pump` into
  a :class:`~streams.sources.sinks.FileSink`, with a checkpoint store as ``--to FILE`` has
  (fsync and checkpoint every 20,000 events);
- the webhook mappers (Zendesk, Chatwoot) as the receiver handles a request body once its
  signature is checked: ``orjson.loads`` + ``map_payload`` + ``decode_obj`` per payload, each
  valid event one line of the file (no HTTP, no signature, no Kafka).

Synthetic inputs (``--records N``, default 40,000; ``--seed``):

- ``asterisk``: a queue_log of N calls (~3 lines each) over 12-hour days busiest at midday,
  36 agents in 4 queues (ADDMEMBER at the start of the day, REMOVEMEMBER at its end,
  PAUSE/UNPAUSE breaks), ENTERQUEUE, CONNECT (some after a RINGNOANSWER),
  COMPLETECALLER/COMPLETEAGENT, transfers, ABANDON (~16 %), EXITWITHTIMEOUT (per-queue
  timeouts) and EXITWITHKEY;
- ``amazon-connect``: about N lines, copies of ``tests/fixtures/sources/amazon-connect/``
  (contact records, then agent events) with new contact and event ids, agents from a pool of
  100, customer numbers and times moved on 5 minutes per copy;
- ``csv anonymous-bank``: N rows in the Anonymous Bank call-log layout (17 columns, unpadded
  local clock times, ~2,400 calls a day, never-queued calls, AGENT/HANG/PHANTOM outcomes);
- ``zendesk`` / ``chatwoot``: about N webhook bodies, ticket and conversation life-cycles made
  from ``tests/fixtures/sources/zendesk/`` and ``chatwoot/`` (new ids, groups, inboxes,
  agents, channels, ratings; steps left out at random; times stretched), in time order.

The real files in ``/work/shared/data`` are measured too when present (the helpdesk log with
the ``helpdesk-log`` mapping, the bank's one day with ``anonymous-bank``).

Prints one table: records read, events written, records skipped (any reason, ``ignored:*``
included), seconds, records/s, events/s and the peak resident memory the run added
(``resource.getrusage`` after resetting the peak through ``/proc/self/clear_refs``; where that
is not possible, the growth of the process's peak, which reads 0 when an earlier phase peaked
higher). The garbage collector keeps CPython's defaults, as ``ccpulse connect`` does. Progress
and the skip reasons go to standard error. Run::

    .venv/bin/python bench/bench_connectors.py [--records N] [--seed S]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import math
import os
import random
import re
import resource
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.core.config import parse_config
from streams.core.timestamps import parse_us
from streams.sources import chatwoot, zendesk
from streams.sources.base import Skipped, rfc3339_us
from streams.sources.checkpoint import CheckpointStore
from streams.sources.cli import add_connect_parser
from streams.sources.run import pump
from streams.sources.sinks import FileSink
from streams.validation import Invalid, decode_obj

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "sources"
SHARED = Path(os.environ.get("CCPULSE_SHARED_DATA", "/work/shared/data"))
HELPDESK_CSV = SHARED / "helpdesk-italian-software-company" / "helpdesk_log.csv"
BANK_CSV = SHARED / "anonymous-bank-call-centre" / "calls_one_day.csv"

#: Synthetic contact-centre time starts here (in the past: events may not be ahead of now).
START_US = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp()) * 1_000_000
#: The fixtures' own first moment (2026-03-10T09:00Z).
FIXTURE_START_US = parse_us("2026-03-10T09:00:00Z")
US = 1_000_000
PROGRESS_EVERY_S = 5.0


def say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Asterisk queue_log


@dataclass
class _Agent:
    interface: str
    queues: list[str]
    free_at: int = 0


def asterisk_queue_log(path: Path, calls: int, rng: random.Random) -> None:
    """A queue_log of ``calls`` calls: 12-hour days from 08:00 UTC, 36 agents with 1-3 of 4
    queues each; a call goes to the member of its queue free first, and abandons when that
    is longer than its patience or flows out at the queue's timeout; lines sorted by time
    as app_queue writes them."""
    queues = ["sales", "support", "billing", "tech"]
    weights = [0.35, 0.35, 0.2, 0.1]
    agents: list[_Agent] = []
    for i in range(36):
        number = 1001 + i
        interface = (f"PJSIP/{number}" if i % 3 == 0 else
                     f"Agent/{number}" if i % 3 == 1 else f"Local/{number}@from-queue/n")
        served = {queues[i % 4]}
        served.update(rng.sample(queues, rng.randint(0, 2)))
        agents.append(_Agent(interface, sorted(served)))
    lines: list[tuple[int, int, str]] = []
    seq = 0

    def emit(at: int, text: str) -> None:
        nonlocal seq
        seq += 1
        lines.append((at, seq, f"{at}|{text}"))

    made = 0
    day = 0
    timeouts = {"sales": 180, "support": 240, "billing": 120, "tech": 90}  # EXITWITHTIMEOUT
    while made < calls:
        open_s = START_US // US + day * 86_400 + 8 * 3600
        close_s = open_s + 12 * 3600
        for agent in agents:
            agent.free_at = open_s
            at = open_s - rng.randint(60, 600)
            for queue in agent.queues:
                emit(at, f"MANAGER|{queue}|{agent.interface}|ADDMEMBER|")
        t = float(open_s)
        while made < calls:
            # ~6 s between arrivals on average, busiest at midday (~110 % of the 36 agents'
            # capacity at ~3 min a call), quiet in the morning and evening.
            load = 0.55 + 0.75 * math.sin(math.pi * (t - open_s) / (close_s - open_s))
            t += rng.expovariate(load / 6.0)
            if t >= close_s:
                break
            made += 1
            at = int(t)
            callid = f"{at}.{made}"
            queue = rng.choices(queues, weights)[0]
            caller = f"0{rng.randint(200_000_000, 999_999_999)}"
            emit(at, f"{callid}|{queue}|NONE|ENTERQUEUE||{caller}|1")
            position = rng.randint(1, 6)
            if rng.random() < 0.01:
                wait = rng.randint(5, 90)
                emit(at + wait, f"{callid}|{queue}|NONE|EXITWITHKEY|1|{position}|{position}|"
                                f"{wait}")
                continue
            members = [a for a in agents if queue in a.queues]
            agent = min(members, key=lambda a: a.free_at)
            wait = max(0, agent.free_at - at)
            patience = int(rng.expovariate(1 / 200))
            timeout = timeouts[queue]
            if wait <= min(patience, timeout):
                if rng.random() < 0.08 and len(members) > 1:
                    other = rng.choice([a for a in members if a is not agent])
                    emit(at + min(wait, 15), f"{callid}|{queue}|{other.interface}|RINGNOANSWER|"
                                             "15000")
                answered = at + wait
                ring = rng.randint(1, 6)
                emit(answered, f"{callid}|{queue}|{agent.interface}|CONNECT|{wait}|"
                               f"{answered - ring}.{made}|{ring}")
                talk = max(10, int(rng.lognormvariate(math.log(150), 0.6)))
                ended = answered + talk
                kind = rng.choices(["COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER",
                                    "ATTENDEDTRANSFER"], [0.55, 0.4, 0.03, 0.02])[0]
                data = (f"{wait}|{talk}|1" if kind.startswith("COMPLETE") else
                        f"2001|from-internal|{wait}|{talk}|1" if kind == "BLINDTRANSFER" else
                        f"BRIDGE|{uuid.UUID(int=rng.getrandbits(128), version=4)}|{wait}|"
                        f"{talk}|1")
                emit(ended, f"{callid}|{queue}|{agent.interface}|{kind}|{data}")
                agent.free_at = ended + 15  # wrap-up
                if rng.random() < 0.03:  # a break after this call
                    reason = rng.choice(["Break", "Lunch", "Training", "Coaching"])
                    back = agent.free_at + rng.randint(300, 1800)
                    for q in agent.queues:
                        emit(agent.free_at, f"NONE|{q}|{agent.interface}|PAUSE|{reason}")
                        emit(back, f"NONE|{q}|{agent.interface}|UNPAUSE|")
                    agent.free_at = back
            elif patience < timeout:
                emit(at + patience, f"{callid}|{queue}|NONE|ABANDON|{position}|{position}|"
                                    f"{patience}")
            else:
                emit(at + timeout, f"{callid}|{queue}|NONE|EXITWITHTIMEOUT|{position}|"
                                   f"{position}|{timeout}")
        for agent in agents:
            at = max(close_s, agent.free_at) + rng.randint(30, 600)
            for queue in agent.queues:
                emit(at, f"MANAGER|{queue}|{agent.interface}|REMOVEMEMBER|")
        day += 1
    lines.sort()
    with path.open("w", encoding="utf-8") as out:
        out.writelines(f"{text}\n" for _, _, text in lines)


# --------------------------------------------------------------------------------------------
# Fixture variation (Amazon Connect, Zendesk, Chatwoot)

_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_parsed: dict[str, int] = {}


def _iso_us(text: str) -> int:
    value = _parsed.get(text)
    if value is None:
        value = _parsed[text] = parse_us(text)
    return value


@dataclass
class Variation:
    """How one copy of a fixture differs: times ``t -> start + (t - origin) * stretch`` (ISO
    strings anywhere; epoch numbers under ``epoch_keys``), exact string values and UUIDs inside
    strings replaced, and integers under ``id_keys`` replaced."""

    start_us: int
    origin_us: int = FIXTURE_START_US
    stretch: float = 1.0
    strings: dict[str, str] = field(default_factory=dict)
    uuids: dict[str, str] = field(default_factory=dict)
    ints: dict[int, int] = field(default_factory=dict)
    epoch_keys: frozenset[str] = frozenset()
    id_keys: frozenset[str] = frozenset()

    def time_us(self, us: int) -> int:
        return self.start_us + round((us - self.origin_us) * self.stretch)

    def apply(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.apply(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.apply(v, key) for v in value]
        if isinstance(value, str):
            if value in self.strings:
                return self.strings[value]
            if _ISO.match(value):
                return rfc3339_us(self.time_us(_iso_us(value)))
            if self.uuids and "-" in value:
                return _UUID.sub(lambda m: self.uuids.get(m.group(0), m.group(0)), value)
            return value
        if isinstance(value, bool) or value is None:
            return value
        if key in self.epoch_keys and value > 1_000_000_000:
            moved = self.time_us(round(value * US))
            return moved // US if isinstance(value, int) else round(moved / US, 6)
        if key in self.id_keys and value in self.ints:
            return self.ints[value]
        return value


def _new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _json_lines(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def amazon_connect_files(ctr_path: Path, agent_path: Path, records: int,
                         rng: random.Random) -> None:
    """About ``records`` lines: copies of the fixtures' contact records and agent events,
    each copy 5 minutes after the one before, with its own contact and event ids, five agents
    of a pool of 100 (one agent is in a copy only every 20 copies, 100 minutes: longer than
    the fixtures' span) and its own customer number."""
    ctrs = _json_lines(FIXTURES / "amazon-connect" / "ctr.jsonl")
    agent_events = _json_lines(FIXTURES / "amazon-connect" / "agent-events.jsonl")
    text = json.dumps([ctrs, agent_events])
    contact_ids = sorted({u for u in _UUID.findall(text) if u.startswith("5b1e7c00-")})
    event_ids = sorted({u for u in _UUID.findall(text) if u.startswith("2d9b6c1e-")})
    agent_ids = sorted({u for u in _UUID.findall(text) if u.startswith("0a7e1c2d-")})
    customers = sorted(set(re.findall(r'"(\+4477[0-9]+)"', text)))
    copies = max(1, math.ceil(records / (len(ctrs) + len(agent_events))))
    with ctr_path.open("w", encoding="utf-8") as ctr_out, \
            agent_path.open("w", encoding="utf-8") as agent_out:
        for k in range(copies):
            uuids = {u: _new_uuid(rng) for u in [*contact_ids, *event_ids]}
            for j, agent in enumerate(agent_ids):
                uuids[agent] = f"0a7e1c2d-1111-4a5b-8c9d-{(k * len(agent_ids) + j) % 100:012d}"
            strings = {c: f"+4477009{rng.randint(0, 99_999):05d}" for c in customers}
            variation = Variation(START_US + k * 300 * US, strings=strings, uuids=uuids)
            ctr_out.writelines(json.dumps(variation.apply(o), separators=(",", ":")) + "\n"
                               for o in ctrs)
            agent_out.writelines(json.dumps(variation.apply(o), separators=(",", ":")) + "\n"
                                 for o in agent_events)


ZENDESK_GROUPS = {"98738": "support", "98739": "billing", "98740": "returns", "98741": "tech",
                  "98742": "vip"}
ZENDESK_CHANNELS = ["web_form", "email", "email", "api", "voice", "chat", "whatsapp"]
#: Fixture number -> chance it is part of a ticket's life (always when absent).
ZENDESK_OPTIONAL = {"04": 0.5, "06": 0.4, "07": 0.4, "08": 0.2, "10": 0.3, "11": 0.3}


def zendesk_bodies(count: int, rng: random.Random) -> list[tuple[bytes, int]]:
    """About ``count`` Zendesk webhook bodies with their send times (the signature timestamp,
    which dates a satisfaction rating): tickets made from the fixtures' life-cycle, one every
    ~20 s, each with its own ids, group, assignee, requester and channel, times stretched
    0.5-3x, steps left out at random; all bodies in send-time order."""
    fixtures = sorted((FIXTURES / "zendesk").glob("*.json"))
    templates = [(p.name[:2], json.loads(p.read_text(encoding="utf-8"))) for p in fixtures]
    out: list[tuple[int, bytes]] = []
    ticket = 0
    while len(out) < count:
        ticket += 1
        tid = str(100_000 + ticket)
        assignee = str(300_000 + rng.randint(1, 40))
        strings = {"35436": tid, "zen:ticket:35436": f"zen:ticket:{tid}",
                   "98738": rng.choice(list(ZENDESK_GROUPS)), "235324": assignee,
                   "20978392": str(rng.randint(10_000_000, 99_999_999)),
                   "web_form": rng.choice(ZENDESK_CHANNELS),
                   "good": rng.choice(["good", "good", "good", "bad"])}
        for _, doc in templates:
            if isinstance(doc.get("id"), str):
                strings[doc["id"]] = _new_uuid(rng)
        for comment in range(1, 10):
            strings[f"98765{comment:05d}"] = str(9_000_000_000 + ticket * 10 + comment)
        variation = Variation(START_US + ticket * 20 * US + rng.randint(0, 19) * US,
                              stretch=rng.uniform(0.5, 3.0), strings=strings)
        sent = variation.start_us
        for number, doc in templates:
            if rng.random() > ZENDESK_OPTIONAL.get(number, 1.0):
                continue
            body = variation.apply(doc)
            sent = parse_us(body["time"]) if "time" in body else sent + 60 * US
            out.append((sent, orjson.dumps(body)))
    out.sort(key=lambda item: item[0])
    return [(body, sent) for sent, body in out]


CHATWOOT_INBOXES = {"3": "web-chat", "4": "web-chat-eu", "5": "email", "6": "email-billing"}
CHATWOOT_EPOCH_KEYS = frozenset({"timestamp", "created_at", "updated_at", "waiting_since",
                                 "last_activity_at", "agent_last_seen_at",
                                 "contact_last_seen_at"})
CHATWOOT_ID_KEYS = frozenset({"id", "inbox_id", "contact_id", "current_value",
                              "previous_value"})
CHATWOOT_OPTIONAL = {"03": 0.5, "06": 0.5, "07": 0.5, "09": 0.4, "15": 0.3}


def chatwoot_bodies(count: int, rng: random.Random) -> list[tuple[bytes, int]]:
    """About ``count`` Chatwoot webhook bodies: chats (fixtures 01-09) and e-mail tickets
    (10-15) one every ~15 s, each with its own conversation, message and contact ids, inbox,
    assignee and CSAT rating, times stretched 0.5-3x, steps left out at random; in time
    order."""
    fixtures = sorted((FIXTURES / "chatwoot").glob("*.json"))
    templates = [(p.name[:2], json.loads(p.read_text(encoding="utf-8"))) for p in fixtures]
    chat = [t for t in templates if t[0] < "10"]
    email = [t for t in templates if t[0] >= "10"]
    out: list[tuple[int, bytes]] = []
    conversation = 0
    while len(out) < count:
        conversation += 1
        is_chat = rng.random() < 0.7
        ints = {42: 10_000 + conversation, 43: 10_000 + conversation,
                51: rng.randint(1_000, 999_999), 7: rng.randint(100, 139),
                3: rng.choice([3, 4]), 5: rng.choice([5, 6])}
        for message in range(1, 10):
            ints[1000 + message] = ints[2000 + message] = conversation * 10 + message
        variation = Variation(START_US + conversation * 15 * US + rng.randint(0, 14) * US,
                              stretch=rng.uniform(0.5, 3.0), ints=ints,
                              epoch_keys=CHATWOOT_EPOCH_KEYS, id_keys=CHATWOOT_ID_KEYS)
        rating = rng.choices([1, 2, 3, 4, 5], [0.08, 0.07, 0.15, 0.3, 0.4])[0]
        for number, doc in chat if is_chat else email:
            if rng.random() > CHATWOOT_OPTIONAL.get(number, 1.0):
                continue
            body = variation.apply(doc)
            if number == "09":
                body["content_attributes"]["submitted_values"]["csat_survey_response"][
                    "rating"] = rating
            out.append((_chatwoot_time(body, variation.start_us), orjson.dumps(body)))
    out.sort(key=lambda item: item[0])
    return [(body, sent) for sent, body in out]


def _chatwoot_time(body: dict[str, Any], default_us: int) -> int:
    """When Chatwoot would send ``body``: the message's time, else the conversation's, else
    ``default_us`` (a contact)."""
    if isinstance(body.get("created_at"), str):
        return parse_us(body["created_at"])
    stamp = body.get("updated_at") or body.get("created_at") or 0
    return round(float(stamp) * US) if stamp else default_us


# --------------------------------------------------------------------------------------------
# Anonymous Bank CSV

BANK_COLUMNS = ["vru+line", "call_id", "customer_id", "priority", "type", "date", "vru_entry",
                "vru_exit", "vru_time", "q_start", "q_exit", "q_time", "outcome", "ser_start",
                "ser_exit", "ser_time", "server"]
BANK_TYPES = (["PS", "NW", "NE", "IN", "TT", "PE"], [0.69, 0.18, 0.06, 0.058, 0.008, 0.004])
BANK_SERVERS = ["SHARON", "AVI", "BENSION", "TOVA", "DORIT", "NAAMA", "AVNI", "STEREN",
                "MORIAH", "VICKY", "ANAT", "ZOHARI", "GELBER", "MICHAL", "YIFAT", "ELI",
                "IDIT", "KAZAV", "ROTH", "SHLOMO", "BASCH", "YITZ", "ILANIT", "DARMON"]
BANK_PER_DAY = 2_400


def _clock(seconds: int) -> str:
    """Seconds after midnight as the bank writes them: ``9:05:03``."""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def bank_csv(path: Path, rows: int, rng: random.Random) -> None:
    """``rows`` calls in the Anonymous Bank layout, ~2,400 a day from 2010-08-01, between
    07:00 and 22:30 local time; 17 % hang up in the voice response unit (q_start 0:00:00),
    of the queued calls 63 % are served (AGENT), 36 % abandon (HANG), 1 % PHANTOM; 1 % of
    the AGENT rows have NO_SERVER and the service can start a second before the queue exit,
    as in the real log."""
    zero = "0:00:00"
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(BANK_COLUMNS)
        written = 0
        day = 0
        while written < rows:
            today = (date(2010, 8, 1) + timedelta(days=day)).isoformat()
            n = min(BANK_PER_DAY, rows - written)
            for entry in sorted(rng.randint(7 * 3600, 22 * 3600 + 1800) for _ in range(n)):
                vru_time = rng.randint(3, 15)
                vru_exit = entry + vru_time
                customer = 0 if rng.random() < 0.4 else rng.randint(1_000_000, 99_999_999)
                row = [f"AA0{rng.randint(1, 2)}{rng.randint(1, 16):02d}",
                       rng.randint(1_000, 49_999), customer,
                       0 if customer == 0 else rng.choice([1, 1, 2]),
                       rng.choices(*BANK_TYPES)[0], today, _clock(entry), _clock(vru_exit),
                       vru_time]
                draw = rng.random()
                if draw < 0.17:  # never queued
                    if rng.random() < 0.2:
                        ser_time = max(5, int(rng.lognormvariate(math.log(120), 0.7)))
                        row += [zero, zero, 0, "AGENT", _clock(vru_exit - 1),
                                _clock(vru_exit - 1 + ser_time), ser_time,
                                rng.choice(BANK_SERVERS)]
                    else:
                        row += [zero, zero, 0, "HANG", zero, zero, 0, "NO_SERVER"]
                else:
                    outcome = rng.choices(["AGENT", "HANG", "PHANTOM"], [0.63, 0.36, 0.01])[0]
                    mean_wait = 160 if outcome == "AGENT" else 80
                    q_time = min(1800, int(rng.expovariate(1 / mean_wait)))
                    q_exit = vru_exit + q_time
                    row += [_clock(vru_exit), _clock(q_exit), q_time, outcome]
                    if outcome == "HANG":
                        row += [zero, zero, 0, "NO_SERVER"]
                    else:
                        start = q_exit - rng.randint(0, 1)
                        ser_time = (rng.randint(2, 7) if outcome == "PHANTOM" else
                                    min(1800, max(5, int(rng.lognormvariate(math.log(150),
                                                                            0.7)))))
                        server = ("NO_SERVER" if outcome == "PHANTOM" or rng.random() < 0.01
                                  else rng.choice(BANK_SERVERS))
                        row += [_clock(start), _clock(start + ser_time), ser_time, server]
                out.writerow(row)
            written += n
            day += 1


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass
class Result:
    name: str
    records: int
    events: int
    skipped: Counter[str]
    seconds: float
    peak_mb: float


def _reset_peak() -> bool:
    """Make the process's peak RSS its current RSS (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(name: str, run: Callable[[], tuple[int, int, Counter[str]]]) -> Result:
    gc.collect()
    _reset_peak()
    before = _maxrss_mb()
    started = time.perf_counter()
    records, events, skipped = run()
    seconds = time.perf_counter() - started
    result = Result(name, records, events, skipped, seconds, _maxrss_mb() - before)
    say(f"{name}: {records:,} records, {events:,} events, {sum(skipped.values()):,} skipped "
        f"in {seconds:.2f} s" + "".join(f"\n    {reason}: {count:,}"
                                         for reason, count in skipped.most_common()))
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ccpulse")
    add_connect_parser(parser.add_subparsers(dest="command"))
    return parser


def pull(argv: list[str], out: Path, config: Any,
         checkpoints: Path) -> Callable[[], tuple[int, int, Counter[str]]]:
    """``ccpulse connect ARGV --to OUT`` in this process: the CLI's parser (not timed), the
    module's ``build`` and ``pump`` into a FileSink with a checkpoint store, as ``--to FILE``
    runs."""
    args = _parser().parse_args(["connect", *argv, "--to", str(out)])

    def run() -> tuple[int, int, Counter[str]]:
        connector = args.connect_module.build(args, config)
        label = str(out)
        store = CheckpointStore(checkpoints, connector.system, connector.identity,
                                f"file:{label}")
        store.clear()
        with out.open("wb") as handle:
            report = asyncio.run(pump(connector, FileSink(handle, label), store,
                                      err=sys.stderr))
        return report.records, report.sent, report.skipped

    return run


def webhook(bodies: list[tuple[bytes, int]], map_payload: Callable[[Any, int], list[Any]],
            out: Path, system: str) -> Callable[[], tuple[int, int, Counter[str]]]:
    """Each body as the receiver maps it once accepted: JSON, ``map_payload``, ``decode_obj``
    with the clock of the request; each valid event one line of ``out``."""

    def run() -> tuple[int, int, Counter[str]]:
        events = 0
        skipped: Counter[str] = Counter()
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        with out.open("wb") as handle:
            for index, (body, sent_us) in enumerate(bodies):
                now = time.time_ns() // 1000
                for item in map_payload(orjson.loads(body), sent_us):
                    if isinstance(item, Skipped):
                        skipped[item.reason] += 1
                        continue
                    decoded = decode_obj(item, now)
                    if isinstance(decoded, Invalid):
                        skipped[f"invalid_event:{decoded.reason}"] += 1
                        continue
                    handle.write(orjson.dumps(item) + b"\n")
                    events += 1
                if time.monotonic() >= next_progress:
                    next_progress = time.monotonic() + PROGRESS_EVERY_S
                    say(f"{system}: {index + 1:,} payloads · {events:,} events")
            handle.flush()
            os.fsync(handle.fileno())
        return len(bodies), events, skipped

    return run


def _generate(what: str, make: Callable[[], Any]) -> Any:
    say(f"generating {what}…")
    started = time.perf_counter()
    value = make()
    say(f"  done in {time.perf_counter() - started:.1f} s")
    return value


def _size(paths: Iterable[Path]) -> str:
    return f"{sum(p.stat().st_size for p in paths) / 1e6:.1f} MB"


def main() -> None:
    """Generate, measure, print the table."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--records", type=int, default=40_000, metavar="N",
                        help="size of each synthetic input: calls (Asterisk), CSV rows, about "
                             "N lines (Amazon Connect) and N webhook bodies (default: 40,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    options = parser.parse_args()
    n = options.records
    rng = random.Random(options.seed)
    results: list[Result] = []
    peak_reset = _reset_peak()
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        work = Path(tmp)
        checkpoints = work / "checkpoints"
        config = parse_config({"connect": {"asterisk": {"wrapup_seconds": 15}}})

        queue_log = work / "queue_log"
        _generate(f"an Asterisk queue_log of {n:,} calls",
                  lambda: asterisk_queue_log(queue_log, n, rng))
        say(f"  {_size([queue_log])}")
        results.append(measure("asterisk queue_log", pull(
            ["asterisk", "--queue-log", str(queue_log)], work / "asterisk.jsonl", config,
            checkpoints)))
        queue_log.unlink()

        ctr, agent_events = work / "ctr.jsonl", work / "agent-events.jsonl"
        _generate(f"about {n:,} Amazon Connect records",
                  lambda: amazon_connect_files(ctr, agent_events, n, rng))
        say(f"  {_size([ctr, agent_events])}")
        results.append(measure("amazon-connect CTR + agent events", pull(
            ["amazon-connect", "--contact-records", str(ctr), "--agent-events",
             str(agent_events)], work / "amazon-connect.jsonl", config, checkpoints)))
        ctr.unlink()
        agent_events.unlink()

        bank = work / "bank.csv"
        _generate(f"an Anonymous Bank CSV of {n:,} rows", lambda: bank_csv(bank, n, rng))
        say(f"  {_size([bank])}")
        results.append(measure("csv anonymous-bank", pull(
            ["csv", str(bank), "--mapping", "anonymous-bank"], work / "bank.jsonl", config,
            checkpoints)))
        bank.unlink()

        settings_zd = zendesk.parse_settings({"groups": ZENDESK_GROUPS})
        bodies = _generate(f"about {n:,} Zendesk webhook bodies",
                           lambda: zendesk_bodies(n, rng))
        results.append(measure("zendesk map_payload", webhook(
            bodies, lambda data, sent: zendesk.map_payload(data, settings_zd, sent),
            work / "zendesk.jsonl", "zendesk")))
        del bodies

        settings_cw = chatwoot.parse_settings({"inboxes": CHATWOOT_INBOXES})
        bodies = _generate(f"about {n:,} Chatwoot webhook bodies",
                           lambda: chatwoot_bodies(n, rng))
        results.append(measure("chatwoot map_payload", webhook(
            bodies, lambda data, _sent: chatwoot.map_payload(data, settings_cw),
            work / "chatwoot.jsonl", "chatwoot")))
        del bodies

        for path, mapping in ((HELPDESK_CSV, "helpdesk-log"), (BANK_CSV, "anonymous-bank")):
            if path.is_file():
                results.append(measure(f"csv {mapping} (real: {path.name})", pull(
                    ["csv", str(path), "--mapping", mapping], work / f"{mapping}-real.jsonl",
                    config, checkpoints)))
            else:
                say(f"{path} is absent: its row is left out")

    print(f"ccpulse connectors into a JSON-lines file, --records {n:,} --seed {options.seed}, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    width = max(len(r.name) for r in results) + 2
    print(f"{'connector':<{width}}{'records':>10}{'events':>10}{'skipped':>9}{'seconds':>9}"
          f"{'records/s':>11}{'events/s':>11}{'peak RSS Δ':>12}")
    for r in results:
        print(f"{r.name:<{width}}{r.records:>10,}{r.events:>10,}"
              f"{sum(r.skipped.values()):>9,}{r.seconds:>9.2f}{r.records / r.seconds:>11,.0f}"
              f"{r.events / r.seconds:>11,.0f}{r.peak_mb:>9.1f} MB")
    if not peak_reset:
        print("\n(peak RSS Δ: growth of the process's peak; 0 when an earlier phase peaked "
              "higher)")


if __name__ == "__main__":
    main()
