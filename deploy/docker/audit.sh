#!/usr/bin/env bash
# `make audit`: known vulnerabilities of deploy/docker/requirements.lock, the image's pins.
# pip-audit (pinned below), in a venv of its own under .cache so that its dependencies never mix
# with ccpulse's, looks every pin up in PyPI's vulnerability data; --strict: a pin it cannot
# look up fails the audit rather than passing unseen. Where PyPI's per-release JSON API is out
# of reach (pip-audit then "could not audit" anything), audit_latest.py gives the verdict that
# PyPI's project API allows: pins at their project's latest release only. Exit 0: no known
# vulnerability; 1: one found; 2 (fallback only): some pins could not be audited.
set -euo pipefail
cd "$(dirname "$0")/../.."

PIP_AUDIT=pip-audit==2.10.1
venv=.cache/audit-venv
lock=deploy/docker/requirements.lock
if [ ! -x "$venv/bin/pip-audit" ] \
   || [ "$("$venv/bin/pip-audit" --version)" != "pip-audit ${PIP_AUDIT#*==}" ]; then
  echo "[audit] installing $PIP_AUDIT into $venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$PIP_AUDIT"
fi

echo "[audit] $(date -u +%Y-%m-%dT%H:%MZ) $PIP_AUDIT on $lock"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
"$venv/bin/pip-audit" --strict --disable-pip --require-hashes -r "$lock" \
  --vulnerability-service pypi --progress-spinner off 2>"$log" || rc=$?
if [ "$rc" -ne 0 ] && grep -q "could not be audited" "$log"; then
  head -n 1 "$log" >&2
  echo "[audit] pip-audit could not look the pins up (PyPI's per-release JSON API is out of" \
       "reach): falling back to PyPI's project API (deploy/docker/audit_latest.py)" >&2
  exec "$venv/bin/python" deploy/docker/audit_latest.py
fi
cat "$log" >&2
exit "$rc"
