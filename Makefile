# The two commands of the README. Both do all the set-up first (deploy/setup.sh, idempotent).
.PHONY: demo test setup lint

setup:
	@bash deploy/setup.sh

demo: setup
	@.venv/bin/ccpulse demo

test: setup
	@bash tests/run.sh

lint: setup
	@.venv/bin/ruff check streams tests bench
