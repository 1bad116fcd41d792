"""``ccpulse connect amazon-connect``: Amazon Connect contact records and agent events in.

Amazon Connect streams contact records (CTRs) to Kinesis Data Streams or Firehose, and agent
events to Kinesis Data Streams ("Enable data streaming for your instance", Amazon Connect
Administrator Guide, https://docs.aws.amazon.com/connect/latest/adminguide/data-streaming.html).
This connector reads those records from files: one JSON object per line, or objects written
back to back without a newline (Firehose's S3 objects). Each record is recognised by its shape,
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
from typing import Any

from streams.sources.base import Connector, Mapped, Record, Skipped, StatelessMapper

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
    from streams.errors import ConfigError

    table = dict(getattr(config, "connect", {}).get(SYSTEM, {}))
    for key in table:
        if key not in CONFIG_KEYS:
            raise ConfigError(f"connect.{SYSTEM}.{key} is not a setting; the only one is "
                              "queue_names")
    names = table.get("queue_names", {})
    if not isinstance(names, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in names.items()):
        raise ConfigError(f"connect.{SYSTEM}.queue_names must be a table of queue id or ARN "
                          f"= \"name\", got {names!r}")
    return {k: v.strip() for k, v in names.items()}


def build(args: argparse.Namespace, config: Any) -> Connector:
    from streams.sources.files import read_lines

    paths = [os.path.abspath(p) for p in [*args.contact_records, *args.agent_events]]
    mapper = AmazonConnectMapper(settings(config))
    follow = bool(getattr(args, "follow", False))

    def read(position: Mapping[str, Any] | None) -> Iterator[Any]:
        return read_lines(paths, position, follow=follow)

    what = f"{len(args.contact_records)} contact record file(s)"
    if args.agent_events:
        what += f", {len(args.agent_events)} agent event file(s)"
    return Connector(SYSTEM, "\x1f".join(paths), read, mapper,
                     describe=f"{what}{': follow' if follow else ''}")


class AmazonConnectMapper(StatelessMapper):
    """Lines of Connect records → contract events. Every record stands alone: a record
    delivered twice maps to the same events with the same ids."""

    def __init__(self, queue_names: Mapping[str, str] | None = None) -> None:
        self.queue_names = dict(queue_names or {})

    def map(self, record: Record) -> Mapped:
        from streams.sources.amazon_connect_agent import is_agent_event, map_agent_event
        from streams.sources.amazon_connect_ctr import is_contact_record, map_contact_record

        out: Mapped = []
        objects = list(json_objects(record.data if isinstance(record.data, str) else ""))
        if not objects:
            return [Skipped("ignored:blank_line", "an empty line")]
        for obj in objects:
            if isinstance(obj, _NotJson):
                out.append(Skipped("not_json", obj.detail))
            elif not isinstance(obj, dict):
                out.append(Skipped("unknown_record", f"a JSON {type(obj).__name__}, not a "
                                                     "contact record or agent event"))
            elif is_contact_record(obj):
                out.extend(map_contact_record(obj, self.queue_names))
            elif is_agent_event(obj):
                out.extend(map_agent_event(obj, self.queue_names))
            else:
                keys = ", ".join(sorted(obj)[:5])
                out.append(Skipped("unknown_record", "neither a contact record nor an agent "
                                                     f"event (keys {keys or 'none'})"))
        return out


class _NotJson:
    __slots__ = ("detail",)

    def __init__(self, detail: str) -> None:
        self.detail = detail


def json_objects(text: str) -> Iterator[Any]:
    """The JSON values of ``text``: one per line as Kinesis consumers write them, or several
    back to back (Firehose concatenates records without a separator). What cannot be read
    ends the line as one :class:`_NotJson` (its rest cannot be resynchronised)."""
    decoder = json.JSONDecoder()
    at, end = 0, len(text)
    while True:
        while at < end and text[at] in " \t\r\n\ufeff":
            at += 1
        if at >= end:
            return
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            snippet = text[at:at + 40]
            yield _NotJson(f"not JSON at character {exc.pos + 1}: {exc.msg} ({snippet!r}…)")
            return
        yield value
