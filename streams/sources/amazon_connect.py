"""``ccpulse connect amazon-connect``: Amazon Connect contact records and agent events in.

Amazon Connect streams contact records (CTRs) to Kinesis Data Streams or Firehose, and agent
events to Kinesis Data Streams ("Enable data streaming for your instance", Amazon Connect
Administrator Guide, https://docs.aws.amazon.com/connect/latest/adminguide/data-streaming.html).
This connector reads those records from files: one JSON object per line, or objects written
back to back without a newline (Firehose's S3 objects): each object is one record, and so is
a line that is not JSON objects (skipped once, ``not_json``), so the summary's records read
are the records mapped plus those skipped. Each record is recognised by its shape,
so a file may hold both kinds; ``--contact-records`` and ``--agent-events`` only say which
files to read, in that order. The mappings are in :mod:`streams.sources.amazon_connect_ctr` and
:mod:`streams.sources.amazon_connect_agent`; the user's page is docs/sources/amazon-connect.md.

Configuration, ``[connect.amazon-connect]``:

``queue_names``
    a table from a queue's id or ARN to the name ccpulse shows, for records whose queue has
    no ``Name`` (default: none; the ARN's id is shown).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from streams.sources.base import Connector, Mapped, Record, Skipped, StatelessMapper, _Idle

HELP = "Amazon Connect contact records (CTRs) and agent event stream records"
DESCRIPTION = (
    "Read Amazon Connect contact records (CTRs, as Kinesis Data Streams or Firehose deliver "
    "them: one JSON object per line, or objects back to back) and agent event stream records, "
    "and send queue, answer, abandon, callback, transfer, hold, after-contact-work and agent "
    "state events. Queue names come from the records ([connect.amazon-connect] queue_names "
    "names queues that have none). For Amazon's 'Service level X' set the queue's policy to "
    "abandons = \"positive\", flow_outs = \"positive\", short_abandon_seconds = 0. "
    "Details: docs/sources/amazon-connect.md.")

SYSTEM = "amazon-connect"
CONFIG_KEYS = ("queue_names",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--contact-records", nargs="+", metavar="FILE", required=True,
                        help="files of contact records, one JSON object per line (or "
                             "Firehose's back-to-back objects)")
    parser.add_argument("--agent-events", nargs="+", metavar="FILE", default=[],
                        help="files of agent event stream records, read after the contact "
                             "records")
    parser.add_argument("--follow", action="store_true",
                        help="keep reading the last file as it grows, like tail -F (give one "
                             "file holding both kinds of records to follow a live feed)")


def settings(config: Any) -> dict[str, str]:
    """The ``queue_names`` of ``[connect.amazon-connect]``, checked. Raises ConfigError."""
    from streams.sources.settings import check_keys, names

    table = dict(getattr(config, "connect", {}).get(SYSTEM, {}))
    check_keys(f"connect.{SYSTEM}", table, CONFIG_KEYS)
    return names(f"connect.{SYSTEM}.queue_names", table.get("queue_names", {}),
                 'queue id or ARN = "name"')


def build(args: argparse.Namespace, config: Any) -> Connector:
    paths = [os.path.abspath(p) for p in [*args.contact_records, *args.agent_events]]
    mapper = AmazonConnectMapper(settings(config))
    follow = bool(getattr(args, "follow", False))

    def read(position: Mapping[str, Any] | None) -> Iterator[Any]:
        return read_records(paths, position, follow=follow)

    what = f"{len(args.contact_records)} contact record file(s)"
    if args.agent_events:
        what += f", {len(args.agent_events)} agent event file(s)"
    return Connector(SYSTEM, "\x1f".join(paths), read, mapper,
                     describe=f"{what}{': follow' if follow else ''}")


def read_records(paths: list[str], position: Mapping[str, Any] | None, *,
                 follow: bool = False) -> Iterator[Record | _Idle]:
    """The records of ``paths``: each JSON object is one :class:`Record` (its data the parsed
    object), so a line of Firehose's back-to-back objects gives one record per object; a line
    that is not JSON objects, or its unreadable rest, is one record (a :class:`NotJson`), and
    a blank line or a line of another JSON value is one record (its text), each skipped once
    by the mapper.

    The position of a line's last record is the position after the line; the records before
    it on the same line carry the position before the line, so a checkpoint taken between two
    of them reads the whole line again after a restart (the same ids: the engine drops the
    repeats) rather than losing its rest.
    """
    from streams.sources.files import read_lines

    before = position
    for item in read_lines(paths, position, follow=follow):
        if not isinstance(item, Record):
            yield item
            continue
        pieces = list(json_objects(item.data))
        if len(pieces) <= 1:
            # an object, a NotJson; a blank line or another JSON value as the line's text
            data = pieces[0] if pieces and isinstance(pieces[0], dict | NotJson) else item.data
            yield Record(item.where, data, item.position)
        else:
            at_start = before if before is not None else {}
            for k, piece in enumerate(pieces, 1):
                yield Record(f"{item.where} object {k}", piece,
                             item.position if k == len(pieces) else at_start)
        before = item.position


class AmazonConnectMapper(StatelessMapper):
    """Connect records (parsed objects, or lines of them) → contract events. Every record
    stands alone: a record delivered twice maps to the same events with the same ids."""

    def __init__(self, queue_names: Mapping[str, str] | None = None) -> None:
        self.queue_names = dict(queue_names or {})

    def map(self, record: Record) -> Mapped:
        """The events of one record: a parsed JSON value (from :func:`read_records`), a
        :class:`NotJson`, or a line's text (each of its objects is mapped in turn)."""
        data = record.data
        if isinstance(data, str):
            pieces = list(json_objects(data))
            if not pieces:
                return [Skipped("ignored:blank_line", "an empty line")]
            return [out for piece in pieces for out in self._map_one(piece)]
        return self._map_one(data)

    def _map_one(self, obj: Any) -> Mapped:
        from streams.sources.amazon_connect_agent import is_agent_event, map_agent_event
        from streams.sources.amazon_connect_ctr import is_contact_record, map_contact_record

        if isinstance(obj, NotJson):
            return [Skipped("not_json", obj.detail)]
        if not isinstance(obj, dict):
            return [Skipped("unknown_record", f"a JSON {_json_kind(obj)}, not a contact "
                                              "record or agent event (each is a JSON object)")]
        if is_contact_record(obj):
            return map_contact_record(obj, self.queue_names)
        if is_agent_event(obj):
            return map_agent_event(obj, self.queue_names)
        keys = ", ".join(sorted(obj)[:5])
        return [Skipped("unknown_record", "neither a contact record nor an agent event "
                                          f"(keys {keys or 'none'})")]


@dataclass(frozen=True)
class NotJson:
    """A line, or the rest of one, that is not JSON objects: one record, skipped
    ``not_json``."""

    detail: str


#: What a ``not_json`` skip says first.
NOT_JSON = "not JSON: a contact record or agent event is a JSON object per line"
_SPACE = " \t\r\n\ufeff"


def json_objects(text: str) -> Iterator[Any]:
    """The records of one line: its JSON objects, one per line as Kinesis consumers write
    them, or several back to back (Firehose concatenates records without a separator).

    A line that does not start with ``{`` is one value when the whole line is JSON (an array,
    a number: a record of an unknown kind), else one :class:`NotJson` -- never a number read
    off the front of, say, an Asterisk ``queue_log`` line. An object that cannot be read ends
    the line as one :class:`NotJson` (the rest cannot be resynchronised); the objects before
    it are records of their own. A blank line has none.
    """
    decoder = json.JSONDecoder()
    at, end, count = 0, len(text), 0
    while True:
        while at < end and text[at] in _SPACE:
            at += 1
        if at >= end:
            return
        if text[at] != "{":
            if count == 0:
                try:
                    yield json.loads(text[at:])
                    return
                except ValueError:
                    pass
            yield NotJson(f"{NOT_JSON} ({_after(count, at)}{_snippet(text, at)})")
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            yield NotJson(f"{NOT_JSON} ({_after(count, at)}{exc.msg} at character "
                          f"{exc.pos + 1}: {_snippet(text, at)})")
            return
        count += 1
        yield value


def _after(count: int, at: int) -> str:
    """Where the unreadable rest of a line starts, when objects were read before it."""
    if not count:
        return ""
    return f"after {count} object{'' if count == 1 else 's'}, from character {at + 1}: "


def _snippet(text: str, at: int) -> str:
    return repr(text[at:at + 40]) + ("…" if len(text) > at + 40 else "")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "number"
