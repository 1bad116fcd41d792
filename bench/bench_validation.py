"""How long ``streams.validation.decode`` takes per event, for every event type.

Run: ``.venv/bin/python bench/bench_validation.py [--iterations N]``

You should see one row per event type with the microseconds per call of ``decode(raw, now_us)``
on the bytes of a valid event (the schema's own example) and of an invalid one (the same event
without its first type-specific required field), then the mean over all types. The valid path
is what a worker pays per message; the invalid path builds the error message and is allowed to
be slower.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.core.events import Event
from streams.core.timestamps import parse_us
from streams.validation import Invalid, decode, load_schemas


def _invalid_variant(event_type: str, schema: dict[str, Any], example: dict[str, Any]) -> bytes:
    """The example without the first field its type requires (qa.reviewed: without categories)."""
    broken = dict(example)
    required = schema.get("required") or ["categories"]
    broken.pop(required[0])
    return orjson.dumps(broken)


def _us_per_call(raw: bytes, now_us: int, iterations: int) -> float:
    """Microseconds per ``decode`` call, best of three runs to damp noise from other processes."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(iterations):
            decode(raw, now_us)
        best = min(best, time.perf_counter() - start)
    return best / iterations * 1e6


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--iterations", type=int, default=20_000, help="calls per measurement")
    iterations = parser.parse_args().iterations

    schemas = load_schemas()
    rows = []
    for event_type, schema in schemas.items():
        if event_type == "envelope":
            continue
        example = schema["examples"][0]
        valid_raw = orjson.dumps(example)
        invalid_raw = _invalid_variant(event_type, schema, example)
        now_us = parse_us(example["occurred_at"])
        assert isinstance(decode(valid_raw, now_us), Event), event_type
        assert isinstance(decode(invalid_raw, now_us), Invalid), event_type
        rows.append(
            (
                event_type,
                _us_per_call(valid_raw, now_us, iterations),
                _us_per_call(invalid_raw, now_us, max(1, iterations // 4)),
            )
        )

    print(f"{'event type':<24} {'µs/event valid':>15} {'µs/event invalid':>17}")
    print("-" * 58)
    for event_type, valid_us, invalid_us in rows:
        print(f"{event_type:<24} {valid_us:>15.2f} {invalid_us:>17.2f}")
    print("-" * 58)
    mean_valid = sum(row[1] for row in rows) / len(rows)
    mean_invalid = sum(row[2] for row in rows) / len(rows)
    print(f"{'mean':<24} {mean_valid:>15.2f} {mean_invalid:>17.2f}")


if __name__ == "__main__":
    main()
