#!/usr/bin/env bash
# Runs the whole test suite (unit, cli, integration through the real broker and Prometheus).
# pytest's exit code 5 ("no tests collected") is a failure here: an empty run proves nothing.
#
# With no arguments: the unit tests (pure, no broker, no port, no child process) run in one
# process a core (pytest-xdist; 4 min 27 s on 2 cores on 2026-12-05), then the rest in one
# process: those start brokers, workers and Prometheus, and timing-sensitive ones flake when
# they share the machine's cores with each other. With arguments: one pytest run of those arguments.
set -uo pipefail
cd "$(dirname "$0")/.."
for tool in ruff pytest; do
  if ! .venv/bin/python -c "import $tool" 2>/dev/null; then
    echo "the test environment is not set up ($tool is missing from .venv): run \`make setup-test\` once (\`make test\` does it and runs everything), then this again"
    exit 1
  fi
done
.venv/bin/ruff check streams tests bench || { echo "ruff found problems (see above)"; exit 1; }

run_pytest() {
  .venv/bin/python -m pytest "$@"
  local rc=$?
  if [ $rc -eq 5 ]; then echo "pytest collected no tests ($*): failing on purpose"; return 1; fi
  return $rc
}

if [ $# -gt 0 ]; then
  run_pytest "$@"
  exit $?
fi
# --durations: the slowest tests named in every CI log (the suite's budget is 30 minutes)
run_pytest -n auto --durations=10 tests/unit
unit=$?
run_pytest --durations=30 --ignore=tests/unit
rest=$?
[ $unit -eq 0 ] || echo "the unit tests failed (exit $unit): see their run above"
[ $rest -eq 0 ] || echo "the cli, integration or fault tests failed (exit $rest): see above"
[ $unit -eq 0 ] && [ $rest -eq 0 ]
