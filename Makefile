# The two commands of the README. Both do their set-up first (deploy/setup.sh, idempotent):
# `make demo` installs only what the demo needs; `make test` adds what only the tests use.
.PHONY: demo test setup setup-test lint audit

setup:
	@bash deploy/setup.sh demo

setup-test:
	@bash deploy/setup.sh test

demo: setup
	@.venv/bin/ccpulse demo

test: setup-test
	@bash tests/run.sh

lint: setup-test
	@.venv/bin/ruff check streams tests bench

# Known vulnerabilities of the image's pinned dependencies (deploy/docker/requirements.lock):
# pip-audit against PyPI, see docs/security.md "Supply chain". It needs PyPI and its answer
# changes as advisories are published, so `make test` (and CI) does not run it.
audit:
	@bash deploy/docker/audit.sh
