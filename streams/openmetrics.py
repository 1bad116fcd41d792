"""OpenMetrics text with a timestamp per sample, for ``promtool tsdb create-blocks-from
openmetrics`` (the backfill's output format).

A family's sample lines are the text exposition's (:func:`streams.exporter.family_text`: the
same label order, escaping and number formatting), each followed by the snapshot instant in
seconds. What OpenMetrics adds is the family header: a counter's family name drops ``_total``
(its samples keep it) and the exposition ends with ``# EOF``. OpenMetrics wants each family's
samples together, so a file over many instants holds one header per family followed by all
its samples, instant after instant; promtool silently drops a sample older than the one before
it in the same series, so the instants must ascend.
"""

from __future__ import annotations

from streams.core.metrics import Family
from streams.exporter import family_text

EOF = "# EOF\n"


def family_name(fam: Family) -> str:
    """The OpenMetrics family name: a counter's without ``_total``."""
    if fam.kind == "counter" and fam.name.endswith("_total"):
        return fam.name[:-6]
    return fam.name


def header(fam: Family) -> str:
    """``# HELP`` and ``# TYPE`` of ``fam`` (OpenMetrics escapes ``\\``, newline and ``"``)."""
    name = family_name(fam)
    text = fam.help.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')
    return f"# HELP {name} {text}\n# TYPE {name} {fam.kind}\n"


def timestamp_text(at_us: int) -> str:
    """Epoch microseconds as OpenMetrics seconds, whole when they are."""
    seconds, micros = divmod(at_us, 1_000_000)
    return str(seconds) if not micros else f"{seconds}.{micros:06d}".rstrip("0")


def samples(fam: Family, at_us: int) -> str:
    """The sample lines of ``fam`` stamped with ``at_us`` (no header)."""
    lines = family_text(fam).splitlines()[2:]  # the text format's HELP and TYPE
    if not lines:
        return ""
    stamp = f" {timestamp_text(at_us)}\n"
    return stamp.join(lines) + stamp
