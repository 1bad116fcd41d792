"""``python -m streams.hot_path build``: compile the hot path with mypyc (streams.compiled);
``status``: say which copy of it this Python runs, and why. ``deploy/setup.sh`` runs the build.

Exit status: 0 built (or already current), 1 the build failed (the message says why and
where the compiler's log is; ccpulse then runs the Python source), 2 a wrong command.
"""

from __future__ import annotations

import sys

from streams import compiled


def main(argv: list[str] | None = None) -> int:
    """``python -m streams.hot_path [build [--force]|status]``: build the compiled copy
    (unless it is current, or with ``--force``), or say which copy runs."""
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "status"
    if command == "status":
        print(compiled.state().line())
        return 0
    if command != "build":
        print(f"Error: unknown command {command!r}; use 'build' or 'status'.", file=sys.stderr)
        return 2
    current = compiled.decide()
    if current.compiled and "--force" not in args:
        print(f"{current.line()}: already built")
        return 0
    try:
        seconds = compiled.build()
    except compiled.BuildError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(f"hot path compiled in {seconds:.0f} s: {compiled.decide().line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
