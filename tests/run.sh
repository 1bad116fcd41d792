#!/usr/bin/env bash
# Runs the whole test suite (unit, cli, integration through the real broker and Prometheus).
# pytest's exit code 5 ("no tests collected") is a failure here: an empty run proves nothing.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check streams tests bench || { echo "ruff found problems (see above)"; exit 1; }
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi
exit $rc
