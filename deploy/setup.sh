#!/usr/bin/env bash
# One-time (idempotent) set-up of a fresh machine for ccpulse: system packages, .venv, Kafka jars.
#   deploy/setup.sh demo   what `make demo` needs: a JDK and Maven (for Kafka), ccpulse itself
#   deploy/setup.sh test   that plus what only the tests use: Prometheus, promtool, Alertmanager,
#                          amtool, Chromium, and the Python test extras (pytest, ruff, ...)
# Safe to run again (it skips what is already there). It never stops a program it did not
# start: the only services it stops are ones that its own apt-get install just started.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-test}
case "$mode" in
  demo|test) ;;
  *) echo "Error: unknown set-up '$mode'; use 'demo' or 'test'." >&2; exit 2 ;;
esac

if [ -t 1 ]; then  # bold on a terminal; plain in a file, a pipe or CI
  say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
else
  say() { printf '[setup] %s\n' "$*"; }
fi
need_root_for_apt() {
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "Error: missing system packages ($*) and no root/sudo to install them. Install them with apt-get and run again." >&2
    exit 1
  fi
}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# Services Debian starts when it installs these packages (the project runs its own instances).
services=(prometheus prometheus-alertmanager prometheus-node-exporter)
service_active() {
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$1" 2>/dev/null; then
    return 0
  fi
  command -v service >/dev/null && service "$1" status >/dev/null 2>&1
}

# --- system packages (Debian).
missing=()
command -v java >/dev/null       || missing+=(default-jre-headless)
command -v mvn >/dev/null        || missing+=(maven)
if [ "$mode" = test ]; then
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v promtool >/dev/null   || missing+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || command -v alertmanager >/dev/null || missing+=(prometheus-alertmanager)
  command -v amtool >/dev/null     || missing+=(prometheus-alertmanager)
  command -v chromium >/dev/null   || missing+=(chromium)
fi
# A C compiler and Python's headers: mypyc compiles the hot path (streams/compiled.py). Not
# required: without root or sudo to install them, ccpulse runs the same code from its source.
PY=${PYTHON:-python3}
build_tools=()
command -v gcc >/dev/null        || build_tools+=(gcc libc6-dev)
if command -v "$PY" >/dev/null && ! "$PY" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
  build_tools+=("python$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-dev")
fi
if [ ${#build_tools[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; then
    missing+=("${build_tools[@]}")
  else
    say "no root or sudo to install ${build_tools[*]}: the hot path will not be compiled (ccpulse runs its Python source: slower, the same numbers)"
  fi
fi
if [ ${#missing[@]} -gt 0 ]; then
  need_root_for_apt "${missing[@]}"
  was_active=()
  for svc in "${services[@]}"; do
    if service_active "$svc"; then was_active+=("$svc"); fi
  done
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Stop only what this install started: a service that was already running stays running.
  for svc in "${services[@]}"; do
    case " ${was_active[*]:-} " in *" $svc "*) continue ;; esac
    if service_active "$svc"; then
      say "stopping $svc, which the install just started (ccpulse runs its own on other ports)"
      $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

# --- Python virtual environment with pinned dependencies.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
if [ "$mode" = test ]; then target='.[test,compile]'; else target='.[compile]'; fi
stamp=.venv/.ccpulse-installed-$mode
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing ccpulse ($mode) and its pinned dependencies into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
  touch "$stamp"
fi

# --- The hot path compiled with mypyc (a third to two thirds more events a second; skipped
# when current). A failed build is not fatal: ccpulse then runs the same code from its source.
.venv/bin/python -m streams.hot_path build 2>&1 | while IFS= read -r line; do say "$line"; done || \
  say "the hot path was not compiled: ccpulse runs its Python source (slower, the same numbers)"

# --- Kafka jars from Maven Central into .cache/kafka (once); its lines as [setup] lines
# (pipefail: a failed fetch fails the set-up).
.venv/bin/ccpulse kafka fetch 2>&1 | while IFS= read -r line; do say "$line"; done
say "ready"
