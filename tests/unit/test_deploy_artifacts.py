"""The deployment artefacts hold together: Dockerfile, docker-compose.yml, deploy/kubernetes/.

No container engine runs in the test environment, so these tests check structure: pinned
images, paths that exist, ports and environment variables that agree with contract §6 and with each
other, Kubernetes manifests valid against the Kubernetes 1.30 schemas in strict mode, and the
generated PrometheusRule equal to a fresh generation from deploy/prometheus/rules/.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.settings import ENV_OVERRIDES, PASSWORD_VARIABLE, kafka_target, load_config

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "docs" / "contract.md"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
CONSTRAINTS = REPO / "deploy" / "docker" / "constraints.txt"
CCPULSE_TOML = REPO / "deploy" / "ccpulse.toml"
KUBE_DIR = REPO / "deploy" / "kubernetes"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
DEPLOY_README = REPO / "deploy" / "README.md"
KAFKA_POM = REPO / "deploy" / "kafka" / "pom.xml"

KUBERNETES_VERSION = "1.30"
"""The oldest Kubernetes the manifests must apply to (strict schemas of kubernetes-validate)."""

SPEC_ENV_VARS = (
    "CCPULSE_BROKER",
    "CCPULSE_APP_ID",
    "CCPULSE_TOPIC_PREFIX",
    "CCPULSE_WEB_HOST",
    "CCPULSE_WEB_PORT",
    "CCPULSE_DATA_DIR",
)
"""The environment variables of docs/contract.md §6 (checked against docs/contract.md)."""

SPEC_TOPICS = (
    "cc.calls", "cc.chats", "cc.tickets", "cc.agents", "cc.feedback", "cc.customers",
    "cc.deadletter",
)

COMPOSE_SERVICES = {
    "kafka", "kafka-init", "worker", "simulator", "prometheus", "alertmanager", "grafana",
}
PUBLISHED_PORTS = {
    # service: (host port, container port), as the header of docker-compose.yml and
    # deploy/README.md document them.
    "kafka": (9092, 29092),
    "worker": (6066, 6066),
    "prometheus": (9090, 9090),
    "alertmanager": (9093, 9093),
    "grafana": (3000, 3000),
}
LONG_RUNNING = {"kafka", "worker", "prometheus", "alertmanager", "grafana"}
CORE_KINDS = {"Namespace", "ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"}

KAFKA_TLS_MARK = "(uncomment for Kafka TLS/SASL):"
"""Ends the comment line above each optional Kafka TLS/SASL block of the deployments."""
KAFKA_SECURITY_VARIABLES = frozenset(
    {var for var, key in ENV_OVERRIDES.items() if key.startswith(("security_", "sasl_", "ssl_"))}
    | {PASSWORD_VARIABLE})
"""The Kafka security variables ccpulse reads (streams.settings, streams.kafka.security)."""

# Fields the Prometheus Operator's PrometheusRule CRD accepts in a group and in a rule.
RULE_GROUP_KEYS = {"name", "interval", "rules", "limit", "partial_response_strategy",
                   "query_offset", "labels"}
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}


# --------------------------------------------------------------------------- helpers


def project_version() -> str:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_kube(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((KUBE_DIR / name).read_text()) if d]


def kube_resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((KUBE_DIR / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in load_kube(name)]


def kube_one(kind: str) -> dict[str, Any]:
    matches = [r for r in kube_resources() if r["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """Instructions ``(KEYWORD, arguments)`` per build stage; continuations joined."""
    stages: list[list[tuple[str, str]]] = [[]]
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, args.strip()))
        logical = ""
    return stages


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def instruction_args(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instruction_args(stage, "ENV"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            env[key] = value
    return env


def copy_sources(stage: list[tuple[str, str]]) -> list[str]:
    sources: list[str] = []
    for args in instruction_args(stage, "COPY"):
        tokens = [t for t in shlex.split(args) if not t.startswith("--")]
        if any(t.startswith("--from") for t in shlex.split(args)):
            continue
        sources.extend(tokens[:-1])
    return sources


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out (Docker's rules: last match wins, a
    pattern matches a path or any of its parents, ``*`` stays within one path segment)."""

    def regex(pattern: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out + r"\Z")

    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        if any(regex(pattern).match(c) for c in candidates):
            excluded = not negate
    return excluded


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """``(source, target)`` of the service's bind mounts (short syntax, relative sources)."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def named_volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if not source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def spec_section(number: str) -> str:
    text = SPEC.read_text()
    start = text.index(f"## {number}.")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


def image_tag(image: str) -> str:
    _name, sep, tag = image.rpartition(":")
    assert sep and "/" not in tag, f"image {image!r} has no tag"
    return tag


def worker_container() -> dict[str, Any]:
    return kube_one("StatefulSet")["spec"]["template"]["spec"]["containers"][0]


def container_env(container: dict[str, Any]) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        config_map = next(
            r for r in kube_resources()
            if r["kind"] == "ConfigMap" and r["metadata"]["name"] == name
        )
        env = {**config_map["data"], **env}  # explicit env wins, as in Kubernetes
    return env


def with_kafka_tls(text: str) -> str:
    """``text`` with its optional Kafka TLS/SASL blocks uncommented, as an operator would: the
    comment lines right after a line ending in :data:`KAFKA_TLS_MARK`, at its indentation."""
    out: list[str] = []
    indent: str | None = None
    for line in text.splitlines():
        if indent is not None and line.startswith(indent + "# "):
            out.append(indent + line[len(indent) + 2:])
            continue
        indent = None
        if line.rstrip().endswith(KAFKA_TLS_MARK):
            indent = line[: len(line) - len(line.lstrip())]
        out.append(line)
    return "\n".join(out) + "\n"


def variables_ccpulse_reads() -> set[str]:
    """Every ``CCPULSE_*`` name the package spells as a string literal: what it can read."""
    names: set[str] = set()
    for path in (REPO / "streams").rglob("*.py"):
        names.update(re.findall(r"[\"'](CCPULSE_[A-Z_]+)[\"']", path.read_text()))
    return names


def accepted_security(env: dict[str, str], tmp_path: Path) -> Any:
    """The Kafka security ccpulse makes of ``env``'s security variables, with each file they
    name replaced by a file of that name under ``tmp_path`` (the password file holds one)."""
    local = {}
    for var, value in env.items():
        if var not in KAFKA_SECURITY_VARIABLES:
            continue
        if value.startswith("/"):
            copy_ = tmp_path / PurePosixPath(value).name
            copy_.write_text("a-password\n")
            value = str(copy_)
        local[var] = value
    return kafka_target(load_config(environ=local)).security


# --------------------------------------------------------------------------- Dockerfile


class TestDockerfile:
    def test_base_image_is_python_3_11_slim_bookworm_pinned_to_a_patch_release(self):
        stages = dockerfile_stages()
        args = dict(a.split("=", 1) for a in instruction_args(stages[0], "ARG") if "=" in a)
        base = args["PYTHON_IMAGE"]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
        for stage in stages[1:]:
            source = instruction_args(stage, "FROM")[0].split()[0]
            assert source == "${PYTHON_IMAGE}", f"stage from {source!r}, not the pinned base"

    def test_runs_as_a_numeric_non_root_user(self):
        users = instruction_args(final_stage(), "USER")
        assert users, "the final stage sets no USER: the worker would run as root"
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]!r} is not a numeric non-root uid"

    def test_exposes_the_web_port(self):
        assert "6066" in " ".join(instruction_args(final_stage(), "EXPOSE")).split()

    def test_entrypoint_is_ccpulse_and_default_command_is_worker(self):
        assert json.loads(instruction_args(final_stage(), "ENTRYPOINT")[-1]) == ["ccpulse"]
        assert json.loads(instruction_args(final_stage(), "CMD")[-1]) == ["worker"]

    def test_healthcheck_asks_healthz_with_python_not_curl(self):
        (check,) = instruction_args(final_stage(), "HEALTHCHECK")
        command = json.loads(check[check.index("CMD") + 3:].strip())
        # streams/worker/healthcheck.py asks /healthz, over HTTPS when the web config says so
        assert command == ["python", "-m", "streams.worker.healthcheck"]
        assert "curl" not in check and "wget" not in check

    def test_container_environment_finds_schemas_and_listens_on_every_interface(self):
        env = env_of(final_stage())
        assert env["CCPULSE_SCHEMAS_DIR"] == "/app/schemas"
        assert env["CCPULSE_WEB_HOST"] == "0.0.0.0"
        assert env["CCPULSE_WEB_PORT"] == "6066"
        assert env["CCPULSE_DATA_DIR"] == "/var/lib/ccpulse"
        copies = instruction_args(final_stage(), "COPY")
        assert any(shlex.split(c) == ["schemas", "/app/schemas"] for c in copies)

    def test_copies_the_package_schemas_and_metadata(self):
        sources = {s.rstrip("/") for stage in dockerfile_stages() for s in copy_sources(stage)}
        assert {"streams", "schemas", "pyproject.toml", "README.md"} <= sources

    @pytest.mark.parametrize(
        "source",
        sorted({s for stage in parse_dockerfile(DOCKERFILE.read_text())
                for s in copy_sources(stage)}),
    )
    def test_every_copied_path_exists_and_is_in_the_build_context(self, source):
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert not dockerignore_excludes(source, dockerignore_patterns()), (
            f"COPY {source}: .dockerignore leaves it out of the build context"
        )

    def test_every_pip_install_is_pinned(self):
        runs = [args for stage in dockerfile_stages() for args in instruction_args(stage, "RUN")]
        commands = [c for run in runs for c in re.split(r"&&|;", run) if "pip install" in c]
        assert commands, "the Dockerfile installs nothing with pip"
        for command in commands:
            tokens = [t for t in command.split("pip install", 1)[1].split()
                      if not t.startswith("-")]
            for token in tokens:
                pinned = "==" in token or token.startswith("/") or token.endswith(".txt")
                assert pinned, f"pip install {token!r} is not pinned"


class TestDockerignore:
    @pytest.mark.parametrize("path", [".venv/bin/python", ".cache/kafka/x.jar", ".git/HEAD",
                                      ".ccpulse/tables", "tests/unit/test_x.py",
                                      "streams/__pycache__/x.pyc"])
    def test_leaves_out_local_state_and_tests(self, path):
        assert dockerignore_excludes(path, dockerignore_patterns())

    @pytest.mark.parametrize("path", ["streams/core/engine.py", "schemas/envelope.json",
                                      "pyproject.toml", "deploy/docker/constraints.txt"])
    def test_keeps_what_the_image_needs(self, path):
        assert not dockerignore_excludes(path, dockerignore_patterns())


class TestConstraints:
    """deploy/docker/constraints.txt: the pinned runtime closure the image installs."""

    @staticmethod
    def pins() -> dict[str, str]:
        freeze = load_script(REPO / "deploy" / "docker" / "freeze_constraints.py")
        pins = {}
        for line in CONSTRAINTS.read_text().splitlines():
            if line and not line.startswith("#"):
                name, sep, version = line.partition("==")
                assert sep, f"constraints.txt: {line!r} is not pinned with =="
                pins[freeze.canonical(name)] = version
        return pins

    def test_every_runtime_dependency_is_pinned_at_the_pyproject_version(self):
        freeze = load_script(REPO / "deploy" / "docker" / "freeze_constraints.py")
        pins = self.pins()
        for requirement in freeze.runtime_requirements():
            name = freeze.canonical(requirement.name)
            assert name in pins, f"{name} (pyproject.toml) is missing from constraints.txt"
            assert requirement.specifier.contains(pins[name]), (
                f"constraints.txt pins {name}=={pins[name]}, pyproject.toml wants "
                f"{requirement.specifier}: run deploy/docker/freeze_constraints.py"
            )

    def test_holds_no_development_tool(self):
        pins = self.pins()
        # (pyyaml is a runtime dependency: the web config file, streams/webconfig.py)
        for tool in ("pytest", "ruff", "hypothesis", "kubernetes-validate"):
            assert tool not in pins

    def test_is_closed_under_the_requirements_of_the_pinned_versions(self):
        """Where the venv has the pinned version installed, its requirements are pinned too."""
        import importlib.metadata as metadata

        from packaging.requirements import Requirement

        freeze = load_script(REPO / "deploy" / "docker" / "freeze_constraints.py")
        pins = self.pins()
        checked = 0
        for name, version in pins.items():
            try:
                if metadata.version(name) != version:
                    continue
            except metadata.PackageNotFoundError:
                continue
            checked += 1
            for spec in metadata.requires(name) or []:
                child = Requirement(spec)
                if child.marker is not None and not child.marker.evaluate({"extra": ""}):
                    continue
                child_name = freeze.canonical(child.name)
                assert child_name in pins, f"{name} needs {child_name}, not in constraints.txt"
                assert child.specifier.contains(pins[child_name], prereleases=True), (
                    f"{name} needs {child}, constraints.txt pins {pins[child_name]}"
                )
        assert checked, "no pinned package is installed here: nothing was checked"


# --------------------------------------------------------------------------- docker compose


class TestComposeServices:
    def test_has_every_service(self):
        assert set(load_compose()["services"]) == COMPOSE_SERVICES

    @pytest.mark.parametrize("service", sorted(COMPOSE_SERVICES))
    def test_image_tag_is_an_exact_version(self, service):
        image = load_compose()["services"][service]["image"]
        tag = image_tag(image)
        assert tag != "latest"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{service}: {image!r} is not exact"

    def test_grafana_is_11_6_and_kafka_is_4(self):
        services = load_compose()["services"]
        assert image_tag(services["grafana"]["image"]).startswith("11.6.")
        assert services["kafka"]["image"].startswith("apache/kafka:4.")
        assert services["kafka-init"]["image"] == services["kafka"]["image"]

    def test_kafka_image_is_the_version_of_the_local_broker(self):
        if not KAFKA_POM.exists():
            pytest.skip("deploy/kafka/pom.xml is not there to compare with")
        match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
        assert match, "deploy/kafka/pom.xml has no <kafka.version>"
        assert image_tag(load_compose()["services"]["kafka"]["image"]) == match.group(1)

    @pytest.mark.parametrize("service", ["worker", "simulator"])
    def test_ccpulse_services_are_built_from_the_dockerfile_and_tagged_with_the_version(
        self, service
    ):
        spec = load_compose()["services"][service]
        assert spec["build"] == {"context": ".", "dockerfile": "Dockerfile"}
        assert spec["image"] == f"ccpulse:{project_version()}"

    def test_simulator_sends_live_traffic(self):
        assert load_compose()["services"]["simulator"]["command"] == ["simulate", "--speed", "1"]

    @pytest.mark.parametrize(
        "service",
        sorted({s for s, spec in yaml.safe_load(COMPOSE_FILE.read_text())["services"].items()
                for _ in bind_mounts(spec)}),
    )
    def test_every_bind_mount_source_exists(self, service):
        for source, target in bind_mounts(load_compose()["services"][service]):
            assert (REPO / source).exists(), f"{service}: {source} (-> {target}) does not exist"

    def test_every_named_volume_is_declared(self):
        compose = load_compose()
        declared = set(compose.get("volumes", {}))
        for name, spec in compose["services"].items():
            for source, _ in named_volumes(spec):
                assert source in declared, f"{name}: volume {source!r} is not declared"

    def test_published_ports_are_the_documented_ones(self):
        services = load_compose()["services"]
        published = {
            name: tuple(int(p) for p in spec["ports"][0].split(":"))
            for name, spec in services.items() if spec.get("ports")
        }
        assert published == PUBLISHED_PORTS
        assert all(len(spec.get("ports", [])) <= 1 for spec in services.values())

    def test_header_and_deploy_readme_document_every_port(self):
        header = COMPOSE_FILE.read_text().split("\nname:")[0]
        readme = DEPLOY_README.read_text()
        for service, (host_port, _) in PUBLISHED_PORTS.items():
            assert re.search(rf"#\s+{re.escape(service)}\s+{host_port}\b", header), service
            assert str(host_port) in readme, f"deploy/README.md does not mention port {host_port}"

    def test_long_running_services_have_healthchecks(self):
        services = load_compose()["services"]
        for name in LONG_RUNNING:
            check = services[name].get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
        assert services["simulator"]["healthcheck"] == {"disable": True}

    def test_kafka_init_is_one_shot_and_creates_every_spec_topic_with_the_configured_partitions(
        self,
    ):
        init = load_compose()["services"]["kafka-init"]
        assert init["restart"] == "no"
        assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
        env = init["environment"]
        assert tuple(env["TOPICS"].split()) == SPEC_TOPICS
        partitions = tomllib.loads(CCPULSE_TOML.read_text())["worker"]["partitions"]
        assert int(env["PARTITIONS"]) == partitions
        assert "--if-not-exists" in init["command"][0]

    def test_kafka_init_gives_the_topics_the_message_size_ccpulse_gives_its_own(self):
        from streams.kafka.admin import DEADLETTER_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES

        command = load_compose()["services"]["kafka-init"]["command"][0]
        assert f"bytes={MAX_MESSAGE_BYTES}\n" in command
        assert (f'if [ "$$topic" = cc.deadletter ]; then bytes={DEADLETTER_MAX_MESSAGE_BYTES}; fi'
                in command)
        assert '--config "max.message.bytes=$$bytes"' in command

    @pytest.mark.parametrize("service", ["worker", "simulator"])
    def test_ccpulse_services_wait_for_the_broker_and_the_topics(self, service):
        depends = load_compose()["services"][service]["depends_on"]
        assert depends["kafka"]["condition"] == "service_healthy"
        assert depends["kafka-init"]["condition"] == "service_completed_successfully"


class TestComposeWorkerEnvironment:
    def test_spec_lists_the_expected_variables(self):
        if not SPEC.exists():
            pytest.skip(f"{SPEC} is missing")
        found = re.findall(r"`(CCPULSE_[A-Z_]+)`", spec_section("6"))
        assert set(SPEC_ENV_VARS) <= set(found)

    @pytest.mark.parametrize("service", ["worker", "simulator"])
    def test_sets_every_spec_variable(self, service):
        env = load_compose()["services"][service]["environment"]
        assert set(SPEC_ENV_VARS) <= set(env)

    def test_broker_is_the_kafka_service_on_its_internal_listener(self):
        services = load_compose()["services"]
        broker = services["worker"]["environment"]["CCPULSE_BROKER"]
        assert broker == "kafka://kafka:9092"
        assert "PLAINTEXT://kafka:9092" in services["kafka"]["environment"][
            "KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert services["simulator"]["environment"]["CCPULSE_BROKER"] == broker

    def test_web_host_port_and_data_dir_agree_with_ports_and_volumes(self):
        worker = load_compose()["services"]["worker"]
        env = worker["environment"]
        assert env["CCPULSE_WEB_HOST"] == "0.0.0.0"
        assert int(env["CCPULSE_WEB_PORT"]) == PUBLISHED_PORTS["worker"][1]
        assert env["CCPULSE_DATA_DIR"] in {target for _, target in named_volumes(worker)}
        assert env["CCPULSE_DATA_DIR"] == env_of(final_stage())["CCPULSE_DATA_DIR"]

    def test_config_file_is_the_mounted_deploy_config(self):
        worker = load_compose()["services"]["worker"]
        mounts = dict((target, source) for source, target in bind_mounts(worker))
        assert mounts[worker["environment"]["CCPULSE_CONFIG"]] == "./deploy/ccpulse.toml"

    def test_topic_prefix_matches_the_created_topics(self):
        services = load_compose()["services"]
        assert (services["worker"]["environment"]["CCPULSE_TOPIC_PREFIX"]
                == services["kafka-init"]["environment"]["TOPIC_PREFIX"])


class TestComposeMonitoring:
    def test_prometheus_config_is_the_local_one_with_compose_targets(self):
        """prometheus.compose.yml = prometheus.yml with localhost replaced by service names."""
        local = (PROMETHEUS_DIR / "prometheus.yml").read_text()
        rewritten = yaml.safe_load(
            local.replace("localhost:6066", "worker:6066")
            .replace("localhost:9093", "alertmanager:9093")
        )
        compose_variant = yaml.safe_load((PROMETHEUS_DIR / "prometheus.compose.yml").read_text())
        assert compose_variant == rewritten

    def test_prometheus_mounts_the_compose_config_and_the_rules_where_rule_files_look(self):
        prometheus = load_compose()["services"]["prometheus"]
        mounts = dict((target, source) for source, target in bind_mounts(prometheus))
        config_target = next(a.split("=", 1)[1] for a in prometheus["command"]
                             if a.startswith("--config.file="))
        assert mounts[config_target] == "./deploy/prometheus/prometheus.compose.yml"
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.compose.yml").read_text())
        config_dir = PurePosixPath(config_target).parent
        for pattern in config["rule_files"]:
            rules_dir = str(config_dir / PurePosixPath(pattern).parent)
            assert mounts.get(rules_dir) == "./deploy/prometheus/rules", (
                f"rule_files {pattern!r} resolves to {rules_dir}, which does not hold the rules"
            )

    def test_prometheus_targets_are_compose_services(self):
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.compose.yml").read_text())
        services = load_compose()["services"]
        targets = [t for job in config["scrape_configs"] for sc in job["static_configs"]
                   for t in sc["targets"]]
        targets += [t for am in config["alerting"]["alertmanagers"]
                    for sc in am["static_configs"] for t in sc["targets"]]
        for target in targets:
            host, port = target.split(":")
            assert (host == "localhost" and port == "9090") or host in services, target
        assert "worker:6066" in targets and "alertmanager:9093" in targets

    def test_alertmanager_mounts_its_config(self):
        alertmanager = load_compose()["services"]["alertmanager"]
        mounts = dict((target, source) for source, target in bind_mounts(alertmanager))
        config = "/etc/alertmanager/alertmanager.yml"
        assert mounts[config] == "./deploy/alertmanager/alertmanager.yml"
        assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]

    def test_grafana_allows_anonymous_viewers_only(self):
        env = load_compose()["services"]["grafana"]["environment"]
        assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
        assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
        assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"

    def test_grafana_home_dashboard_is_a_mounted_file(self):
        grafana = load_compose()["services"]["grafana"]
        home = PurePosixPath(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
        mounts = dict((target, source) for source, target in bind_mounts(grafana))
        assert (REPO / mounts[str(home.parent)] / home.name).is_file(), home

    def test_grafana_dashboard_provider_reads_the_mounted_dashboards(self):
        grafana = load_compose()["services"]["grafana"]
        mounts = dict((source, target) for source, target in bind_mounts(grafana))
        assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
        providers_dir = REPO / "grafana" / "provisioning" / "dashboards"
        paths = [
            provider["options"]["path"]
            for f in sorted(providers_dir.glob("*.y*ml"))
            for provider in yaml.safe_load(f.read_text()).get("providers", [])
        ]
        assert paths, "grafana/provisioning/dashboards/ declares no dashboard provider"
        for path in paths:
            assert path.rstrip("/") == mounts["./grafana/dashboards"], (
                f"the dashboard provider reads {path}, compose mounts grafana/dashboards at "
                f"{mounts['./grafana/dashboards']}"
            )

    def test_grafana_datasource_is_the_prometheus_service(self):
        datasources_dir = REPO / "grafana" / "provisioning" / "datasources"
        sources = [
            ds for f in sorted(datasources_dir.glob("*.y*ml"))
            for ds in yaml.safe_load(f.read_text()).get("datasources", [])
        ]
        prometheus = [ds for ds in sources if ds.get("type") == "prometheus"]
        assert prometheus, "grafana/provisioning/datasources/ declares no Prometheus datasource"
        assert prometheus[0]["url"] == "http://prometheus:9090"
        assert prometheus[0]["uid"] == "prometheus"


# --------------------------------------------------------------------------- Kubernetes


class TestKubernetesManifests:
    def test_kustomization_lists_every_manifest(self):
        kustomization = yaml.safe_load((KUBE_DIR / "kustomization.yaml").read_text())
        on_disk = {p.name for p in KUBE_DIR.glob("*.yaml")} - {"kustomization.yaml"}
        assert set(kustomization["resources"]) == on_disk
        assert kustomization["namespace"] == kube_one("Namespace")["metadata"]["name"]

    def test_every_resource_is_in_the_namespace(self):
        namespace = kube_one("Namespace")["metadata"]["name"]
        for resource in kube_resources():
            if resource["kind"] != "Namespace":
                assert resource["metadata"]["namespace"] == namespace, resource["metadata"]

    @pytest.mark.parametrize(
        "resource",
        [r for r in kube_resources() if r["kind"] in CORE_KINDS],
        ids=lambda r: f"{r['kind']}/{r['metadata']['name']}",
    )
    def test_core_resource_is_valid_for_kubernetes_strictly(self, resource):
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)

    def test_strict_validation_rejects_an_unknown_field(self):
        """A control: the validator does catch a misspelt field (it is not vacuous)."""
        broken = copy.deepcopy(kube_one("StatefulSet"))
        broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)

    def test_every_kind_is_core_or_a_prometheus_operator_crd(self):
        kinds = {r["kind"] for r in kube_resources()}
        assert kinds == CORE_KINDS | {"PodMonitor", "PrometheusRule"}

    def test_worker_image_is_the_compose_image(self):
        assert worker_container()["image"] == load_compose()["services"]["worker"]["image"]
        kustomization = yaml.safe_load((KUBE_DIR / "kustomization.yaml").read_text())
        (override,) = kustomization["images"]
        assert override == {"name": "ccpulse", "newTag": project_version()}


class TestWorkerStatefulSet:
    def test_is_parallel_and_governed_by_the_headless_service(self):
        statefulset, service = kube_one("StatefulSet"), kube_one("Service")
        assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
        assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
        assert service["spec"]["clusterIP"] == "None"
        labels = statefulset["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()

    def test_probes_ask_livez_and_readyz_on_the_port_the_service_names_metrics(self):
        """Kubernetes restarts a worker only when the process itself is stuck (/livez: a broker
        outage is no reason to restart every pod) and routes on readiness (/readyz)."""
        service_ports = {p["name"]: p for p in kube_one("Service")["spec"]["ports"]}
        assert service_ports["metrics"]["port"] == 6066
        container = worker_container()
        container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert container_ports["metrics"] == 6066
        paths = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
        for probe, path in paths.items():
            http = container[probe]["httpGet"]
            assert http["path"] == path, probe
            assert http["port"] == "metrics", probe
        assert service_ports["metrics"]["targetPort"] == "metrics"

    def test_environment_covers_spec_and_agrees_with_ports_and_volumes(self):
        container = worker_container()
        env = container_env(container)
        assert set(SPEC_ENV_VARS) <= set(env)
        assert env["CCPULSE_WEB_HOST"] == "0.0.0.0"
        assert int(env["CCPULSE_WEB_PORT"]) == container["ports"][0]["containerPort"]
        assert env["CCPULSE_SCHEMAS_DIR"] == env_of(final_stage())["CCPULSE_SCHEMAS_DIR"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        (claim,) = kube_one("StatefulSet")["spec"]["volumeClaimTemplates"]
        assert mounts[claim["metadata"]["name"]] == env["CCPULSE_DATA_DIR"]

    def test_config_file_comes_from_the_config_map(self):
        statefulset = kube_one("StatefulSet")
        container = worker_container()
        config_path = PurePosixPath(container_env(container)["CCPULSE_CONFIG"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
        volume = volumes[mounts[str(config_path.parent)]]
        config_map = next(r for r in kube_resources() if r["kind"] == "ConfigMap"
                          and r["metadata"]["name"] == volume["configMap"]["name"])
        assert config_path.name in config_map["data"]

    def test_has_requests_and_limits(self):
        resources = worker_container()["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), kind

    def test_prefers_spreading_workers_over_nodes(self):
        affinity = kube_one("StatefulSet")["spec"]["template"]["spec"]["affinity"]
        (term,) = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        assert "requiredDuringSchedulingIgnoredDuringExecution" not in affinity["podAntiAffinity"]

    def test_runs_as_the_image_user(self):
        context = kube_one("StatefulSet")["spec"]["template"]["spec"]["securityContext"]
        image_uid = int(instruction_args(final_stage(), "USER")[-1].split(":")[0])
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == image_uid
        assert context["fsGroup"] == image_uid

    def test_replicas_do_not_exceed_partitions(self):
        partitions = tomllib.loads(CCPULSE_TOML.read_text())["worker"]["partitions"]
        assert kube_one("StatefulSet")["spec"]["replicas"] <= partitions

    def test_disruption_budget_covers_the_workers(self):
        budget = kube_one("PodDisruptionBudget")
        labels = kube_one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["maxUnavailable"] == 1


class TestConfigMap:
    def test_carries_deploy_ccpulse_toml_verbatim(self):
        config_map = next(r for r in kube_resources() if r["kind"] == "ConfigMap"
                          and "ccpulse.toml" in r.get("data", {}))
        assert config_map["data"]["ccpulse.toml"] == CCPULSE_TOML.read_text(), (
            "deploy/kubernetes/configmap.yaml differs from deploy/ccpulse.toml: copy it over"
        )

    def test_deploy_config_is_valid_for_the_engine(self):
        config = pytest.importorskip("streams.core.config")
        parsed = config.parse_config(tomllib.loads(CCPULSE_TOML.read_text()))
        assert parsed.deployment.partitions >= 1


class TestPodMonitor:
    def test_scrapes_metrics_port_and_path_of_the_worker_pods(self):
        monitor = kube_one("PodMonitor")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["name"]
        labels = kube_one("StatefulSet")["spec"]["template"]["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
        assert endpoint["port"] == "metrics"
        assert endpoint["path"] == "/metrics"

    def test_job_label_is_the_one_the_alert_rules_use(self):
        (endpoint,) = kube_one("PodMonitor")["spec"]["podMetricsEndpoints"]
        local = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        (job,) = [j for j in local["scrape_configs"]
                  if "localhost:6066" in j["static_configs"][0]["targets"]]
        (relabel,) = [r for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
        assert relabel["replacement"] == job["job_name"]


class TestPrometheusRule:
    generator = load_script(KUBE_DIR / "generate_prometheusrule.py")

    def test_committed_file_equals_a_fresh_generation(self):
        assert (KUBE_DIR / "prometheusrule.yaml").read_text() == self.generator.render(), (
            "prometheusrule.yaml is stale: run python deploy/kubernetes/generate_prometheusrule.py"
        )

    def test_groups_are_the_rule_files_groups(self):
        rule = kube_one("PrometheusRule")
        expected = []
        for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
            if not path.stem.endswith("_test"):
                expected.extend((yaml.safe_load(path.read_text()) or {}).get("groups", []))
        assert rule["spec"]["groups"] == expected
        assert expected, "deploy/prometheus/rules/ holds no rule group"
        local = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        assert local["rule_files"] == ["rules/*.yml"], "the generator reads rules/*.yml only"

    def test_is_structurally_a_prometheus_rule(self):
        rule = kube_one("PrometheusRule")
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        assert rule["metadata"]["name"]
        names = [g["name"] for g in rule["spec"]["groups"]]
        assert len(names) == len(set(names)), "group names must be unique"
        for group in rule["spec"]["groups"]:
            assert set(group) <= RULE_GROUP_KEYS, group["name"]
            assert group["rules"], f"group {group['name']} has no rule"
            for item in group["rules"]:
                assert set(item) <= RULE_KEYS, item
                assert ("alert" in item) != ("record" in item), item
                assert str(item["expr"]).strip(), item

    def test_generator_handles_an_empty_rules_directory(self, tmp_path):
        text = self.generator.render(tmp_path)
        assert yaml.safe_load(text)["spec"]["groups"] == []

    def test_generator_keeps_files_in_name_order_and_skips_rule_tests(self, tmp_path):
        (tmp_path / "b.yml").write_text("groups:\n  - name: b\n    rules: []\n")
        (tmp_path / "a.yml").write_text("groups:\n  - name: a\n    rules: []\n")
        (tmp_path / "a_test.yml").write_text("rule_files: [a.yml]\ntests: []\n")
        groups = yaml.safe_load(self.generator.render(tmp_path))["spec"]["groups"]
        assert [g["name"] for g in groups] == ["a", "b"]

    def test_generator_rejects_a_file_that_is_not_a_rule_file(self, tmp_path):
        (tmp_path / "x.yml").write_text("- just a list\n")
        with pytest.raises(self.generator.RuleFileError, match=r"x\.yml.*'groups'"):
            self.generator.render(tmp_path)


# --------------------------------------------------------------------------- Kafka TLS/SASL


class TestKafkaSecurityInTheDeployments:
    """Compose and Kubernetes show how the worker gets Kafka's CA and SASL password: files from
    a secret mounted read-only, named by the CCPULSE_* settings of an optional block that is
    commented out, so that the default (the compose Kafka, PLAINTEXT) still works."""

    @pytest.mark.parametrize("path", [COMPOSE_FILE, *sorted(KUBE_DIR.glob("*.yaml"))],
                             ids=lambda p: p.name)
    def test_every_ccpulse_variable_named_is_one_ccpulse_reads(self, path):
        named = set(re.findall(r"CCPULSE_[A-Z_]+", path.read_text()))
        assert named - variables_ccpulse_reads() == set()

    def test_the_known_security_variables_are_read_by_the_code(self):
        # a control: the derived set is not empty and the scan sees it
        assert {"CCPULSE_SECURITY_PROTOCOL", "CCPULSE_SSL_CAFILE"} <= KAFKA_SECURITY_VARIABLES
        assert KAFKA_SECURITY_VARIABLES - variables_ccpulse_reads() == set()

    def test_the_uncommenting_helper_uncomments_only_the_marked_blocks(self):
        text = ("a: 1\n# keep\n# x (uncomment for Kafka TLS/SASL):\n# b: 2\n#   - c\n"
                "d: 3\n# e: 4\n")
        assert with_kafka_tls(text) == ("a: 1\n# keep\n# x (uncomment for Kafka TLS/SASL):\n"
                                        "b: 2\n  - c\nd: 3\n# e: 4\n")


class TestKafkaSecurityInKubernetes:
    def secret_mount(self) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = kube_one("StatefulSet")["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if "secret" in v]
        (mount,) = [m for m in worker_container()["volumeMounts"]
                    if m["name"] == volume["name"]]
        return volume, mount

    def tls_env(self) -> dict[str, str]:
        (config_map,) = [d for d in yaml.safe_load_all(
            with_kafka_tls((KUBE_DIR / "configmap.yaml").read_text()))
            if d and d["metadata"]["name"] == "ccpulse-env"]
        kubernetes_validate.validate(config_map, KUBERNETES_VERSION, strict=True)
        return config_map["data"]

    def test_the_secret_is_optional_and_read_only_and_the_default_is_plaintext(self):
        volume, mount = self.secret_mount()
        assert volume["secret"]["optional"] is True  # pods start without it
        assert mount["readOnly"] is True
        assert volume["secret"]["defaultMode"] & 0o007 == 0  # not world-readable
        assert volume["secret"]["defaultMode"] & 0o040  # the group (fsGroup) reads it
        assert KAFKA_SECURITY_VARIABLES & set(container_env(worker_container())) == set()

    def test_the_settings_block_names_the_files_of_the_mounted_secret(self):
        volume, mount = self.secret_mount()
        env = self.tls_env()
        added = set(env) - set(container_env(worker_container()))
        assert added and added <= KAFKA_SECURITY_VARIABLES
        files = {str(PurePosixPath(mount["mountPath"]) / item["path"])
                 for item in volume["secret"]["items"]}
        assert {env["CCPULSE_SASL_PASSWORD_FILE"], env["CCPULSE_SSL_CAFILE"]} == files

    def test_the_settings_block_is_a_configuration_ccpulse_accepts(self, tmp_path):
        security = accepted_security(self.tls_env(), tmp_path)
        assert security.protocol == "SASL_SSL" and security.password == "a-password"


class TestKafkaSecurityInCompose:
    def tls_compose(self) -> dict[str, Any]:
        return yaml.safe_load(with_kafka_tls(COMPOSE_FILE.read_text()))

    def test_the_default_is_plaintext_without_secrets(self):
        compose = load_compose()
        assert "secrets" not in compose
        for name in ("worker", "simulator"):
            service = compose["services"][name]
            assert "secrets" not in service
            assert KAFKA_SECURITY_VARIABLES & set(service["environment"]) == set()

    @pytest.mark.parametrize("name", ["worker", "simulator"])
    def test_the_settings_name_secrets_the_service_mounts(self, name):
        compose = self.tls_compose()
        service = compose["services"][name]
        env = service["environment"]
        assert KAFKA_SECURITY_VARIABLES & set(env)
        mounted = {f"/run/secrets/{secret}" for secret in service["secrets"]}
        assert {env["CCPULSE_SASL_PASSWORD_FILE"], env["CCPULSE_SSL_CAFILE"]} <= mounted
        assert set(service["secrets"]) <= set(compose["secrets"])

    def test_the_secret_files_stay_out_of_the_image_build_context(self):
        for secret in self.tls_compose()["secrets"].values():
            assert secret["file"].startswith("./deploy/secrets/"), secret
            assert dockerignore_excludes(secret["file"][2:], dockerignore_patterns()), secret

    def test_the_settings_are_a_configuration_ccpulse_accepts(self, tmp_path):
        env = self.tls_compose()["services"]["worker"]["environment"]
        security = accepted_security(env, tmp_path)
        assert security.protocol == "SASL_SSL" and security.username == "ccpulse"


# --------------------------------------------------------------------------- README


class TestDeployReadme:
    @pytest.mark.parametrize("text", ["docker compose up --build",
                                      "kubectl apply -k deploy/kubernetes",
                                      "http://localhost:3000", "http://localhost:9090",
                                      "http://localhost:9093", "http://localhost:6066",
                                      "localhost:9092"])
    def test_mentions(self, text):
        assert text in DEPLOY_README.read_text()
