"""The deployment asks the worker's health endpoints the right questions: Kubernetes restarts
on /livez only and routes on /readyz; compose and the image check /healthz (readiness). Each
path is one the worker serves."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def worker_container() -> dict:
    docs = yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "statefulset.yaml").read_text())
    (statefulset,) = [d for d in docs if d and d["kind"] == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    return container


def served_paths() -> set[str]:
    source = (REPO / "streams" / "worker" / "app.py").read_text()
    return set(re.findall(r'@self\.app\.page\("(/[a-z.]+)"\)', source))


def test_the_worker_serves_livez_readyz_and_healthz():
    assert {"/livez", "/readyz", "/healthz", "/metrics", "/wallboard.json"} <= served_paths()


def test_kubernetes_restarts_on_liveness_and_routes_on_readiness():
    container = worker_container()
    paths = {probe: container[probe]["httpGet"]["path"]
             for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert paths == {"startupProbe": "/livez", "readinessProbe": "/readyz",
                     "livenessProbe": "/livez"}
    assert all(container[p]["httpGet"]["port"] == "metrics" for p in paths)


def test_readiness_reacts_faster_than_a_broker_outage_would_restart_anything():
    container = worker_container()
    ready = container["readinessProbe"]
    assert ready["periodSeconds"] * ready["failureThreshold"] <= 30


def test_compose_checks_readiness_like_the_image():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    command = " ".join(compose["services"]["worker"]["healthcheck"]["test"])
    assert "/healthz" in command
    assert "/healthz" in (REPO / "Dockerfile").read_text()
