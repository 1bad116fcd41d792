#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh machine for ccpulse: system packages, .venv, Kafka jars.
# Called by `make demo` and `make test`; safe to run again (it skips what is already there).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
need_root_for_apt() {
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "Error: missing system packages ($*) and no root/sudo to install them. Install them with apt-get and run again." >&2
    exit 1
  fi
}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# --- system packages (Debian): Java for Kafka, Maven to fetch it, Prometheus & Alertmanager for
# the real-Prometheus tests, Chromium for browser checks.
missing=()
command -v java >/dev/null       || missing+=(default-jre-headless)
command -v mvn >/dev/null        || missing+=(maven)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null   || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v amtool >/dev/null     || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null   || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  need_root_for_apt "${missing[@]}"
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the services it installs; the project runs its own instances on its own ports.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
  pkill -x prometheus >/dev/null 2>&1 || true
  pkill -x prometheus-alertmanager >/dev/null 2>&1 || true
  pkill -x prometheus-node-exporter >/dev/null 2>&1 || true
fi

# --- Python virtual environment with pinned dependencies.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
stamp=.venv/.ccpulse-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing ccpulse and its pinned dependencies into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi

# --- Kafka jars from Maven Central into .cache/kafka (once).
.venv/bin/ccpulse kafka fetch
say "ready"
