"""compose.yaml is valid Compose and in step with the code: settings, services and pins.

Docker is not available here, so these tests read the file instead of running it.
tests/unit/data/compose-spec.json is schema/compose-spec.json of
github.com/compose-spec/compose-spec at commit 00655e2222608fa6eaecdf12ac5195889ca2244a
(Apache-2.0), vendored unchanged.
"""

import json
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from cli.settings import load_settings
from cli.settings_doc import settings_table
from plumbing.settings import ENV_PREFIX, KAFKA_ROLES, PROJECT_ROOT
from stack import maven, s3_server
from stack.kafka_node import pinned_kafka_version
from stack.kafka_properties import BrokerAuth, NodeListeners, render_server_properties
from stack.services import APP_SERVICES, kafka_role

COMPOSE_FILE = PROJECT_ROOT / "compose.yaml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
SCHEMA_FILE = Path(__file__).parent / "data" / "compose-spec.json"
#: The services that run once and exit; every other service runs until stopped.
ONE_SHOT = frozenset({"stack-init", "trainer"})
#: How compose.yaml builds every Splitstream service: the one Dockerfile at the top.
ONE_BUILD = {"context": ".", "dockerfile": "Dockerfile"}


@cache
def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _environment_names(service: dict[str, Any]) -> set[str]:
    """Variable names of a service's ``environment``, in either of Compose's two forms."""
    environment = service.get("environment") or {}
    if isinstance(environment, dict):
        return set(environment)
    return {entry.split("=", 1)[0] for entry in environment}


def _setting_variables() -> set[str]:
    """The environment names of the settings, as the README's generated table lists them.

    cli/settings_doc.py is the one listing of them; no setting has an alias, so a name
    is the prefix plus the field name.
    """
    return set(re.findall(rf"^\| `({ENV_PREFIX}[A-Z0-9_]+)` \|", settings_table(), re.MULTILINE))


def _pyproject_pin(package: str) -> str:
    dependencies = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    for requirement in dependencies["dependencies"]:
        name, _, version = requirement.partition("==")
        if name.strip() == package:
            return version.strip()
    raise AssertionError(f"pyproject.toml pins no {package}")


def _s3proxy_version() -> str:
    return maven.pom_property(s3_server.POM, "s3proxy.version")


def _locked_versions() -> dict[str, str]:
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert "draft-07" in schema["$schema"]  # the validator below must match the schema
    Draft7Validator.check_schema(schema)
    errors = Draft7Validator(schema).iter_errors(_compose())
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
    assert problems == []
    assert _compose().get("name") == "splitstream"


def test_every_splitstream_variable_names_an_existing_setting() -> None:
    used = {
        name
        for service in _services().values()
        for name in _environment_names(service)
        if name.startswith(ENV_PREFIX)
    }
    used |= set(re.findall(rf"\b({ENV_PREFIX}[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    assert used, "compose.yaml sets no Splitstream setting"
    assert sorted(used - _setting_variables()) == []


@pytest.mark.parametrize(("name", "args"), APP_SERVICES, ids=[name for name, _ in APP_SERVICES])
def test_each_local_stack_service_runs_in_compose_with_its_command_and_a_healthcheck(
    name: str, args: tuple[str, ...]
) -> None:
    service = _services().get(name)
    assert service is not None, f"compose.yaml has no service {name!r}"
    assert service.get("build") == ONE_BUILD
    assert service.get("command") == list(args)
    assert service.get("healthcheck", {}).get("test", ["NONE"])[0] in ("CMD", "CMD-SHELL")


def test_every_built_service_uses_the_one_dockerfile() -> None:
    builds = [service["build"] for service in _services().values() if "build" in service]
    assert DOCKERFILE.is_file()
    assert builds and all(build == ONE_BUILD for build in builds)
    assert {"stack-init", "trainer"} <= {n for n, s in _services().items() if "build" in s}


def test_every_long_running_service_has_a_healthcheck() -> None:
    missing = [n for n, s in _services().items() if n not in ONE_SHOT and "healthcheck" not in s]
    assert missing == []


def test_every_dependency_exists_and_is_waited_for() -> None:
    services = _services()
    problems = []
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            if target not in services:
                problems.append(f"{name} depends on unknown {target}")
                continue
            wanted = "service_completed_successfully" if target in ONE_SHOT else "service_healthy"
            if rule.get("condition") != wanted:
                problems.append(f"{name} -> {target}: condition should be {wanted}")
    assert problems == []


@pytest.mark.parametrize("name", ["sink", "promoter", "gateway"])
def test_services_that_open_clickhouse_reach_the_server(name: str) -> None:
    """Without the URL they would fall back to chDB in their own container, or to the sink's
    /query endpoint (clients/sink_query.py), neither of which Compose runs. Those that only
    read log in as the read-only user; only the sink gets the writer's URL."""
    environment = _services()[name]["environment"]
    reader = environment.get(f"{ENV_PREFIX}CLICKHOUSE_READER_URL", "")
    assert reader.startswith("http://splitstream_reader:") and reader.endswith("@clickhouse:8123")
    writes = f"{ENV_PREFIX}CLICKHOUSE_URL" in environment
    assert writes == (name == "sink")


def test_the_read_only_clickhouse_user_is_mounted_with_grants_and_limits() -> None:
    clickhouse = _services()["clickhouse"]
    users = PROJECT_ROOT / "stack" / "clickhouse" / "splitstream-reader.xml"
    text = users.read_text()
    assert any(
        str(v).startswith("./stack/clickhouse/splitstream-reader.xml:")
        for v in clickhouse["volumes"]
    )
    assert "CLICKHOUSE_READER_PASSWORD" in clickhouse["environment"]
    for needed in (
        "<readonly>1</readonly>",
        "GRANT SELECT ON splitstream.*",
        "<max_execution_time>",
        "<max_memory_usage>",
        "<max_result_rows>",
        'from_env="CLICKHOUSE_READER_PASSWORD"',
    ):
        assert needed in text, needed


def test_only_the_trainer_holds_the_model_signing_key() -> None:
    holders = [
        name
        for name, service in _services().items()
        if f"{ENV_PREFIX}MODEL_SIGNING_KEY" in _environment_names(service)
    ]
    assert holders == ["trainer"]


def test_gateway_is_published_on_its_port() -> None:
    gateway = _services()["gateway"]
    port = gateway["environment"][f"{ENV_PREFIX}GATEWAY_PORT"]
    assert f"{port}:{port}" in gateway.get("ports", [])


@pytest.mark.parametrize(
    ("service", "image"),
    [
        ("kafka", f"apache/kafka:{pinned_kafka_version()}"),
        ("mlflow", f"ghcr.io/mlflow/mlflow:v{_pyproject_pin('mlflow')}"),
        ("s3", f"andrewgaul/s3proxy:s3proxy-{_s3proxy_version()}"),
    ],
)
def test_backing_service_image_is_the_version_the_project_pins(service: str, image: str) -> None:
    assert _services()[service]["image"] == image


def test_mlflow_server_is_set_up_like_the_local_one() -> None:
    command = " ".join(_services()["mlflow"]["command"])
    locked = _locked_versions()
    for package in ("boto3", "botocore"):
        assert f"{package}=={locked[package]}" in command
    settings = load_settings()
    assert f"s3://{settings.s3_bucket}/{settings.mlflow_artifact_prefix} " in f"{command} "


@pytest.mark.parametrize(("name", "args"), APP_SERVICES, ids=[name for name, _ in APP_SERVICES])
def test_each_service_runs_as_its_kafka_principal_with_only_its_password(
    name: str, args: tuple[str, ...]
) -> None:
    environment = _services()[name]["environment"]
    role = kafka_role(name)
    assert environment[f"{ENV_PREFIX}KAFKA_ROLE"] == role
    passwords = {n for n in environment if n.startswith(f"{ENV_PREFIX}KAFKA_PASSWORD_")}
    assert passwords == {f"{ENV_PREFIX}KAFKA_PASSWORD_{role.upper()}"}


def test_the_broker_authenticates_and_authorizes_like_the_local_one() -> None:
    environment = _services()["kafka"]["environment"]
    assert set(environment["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")) == {
        "CLIENT:SASL_PLAINTEXT",
        "INTERNAL:SASL_PLAINTEXT",
        "CONTROLLER:SASL_PLAINTEXT",
    }
    assert environment["KAFKA_AUTHORIZER_CLASS_NAME"].endswith(".StandardAuthorizer")
    assert environment["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert environment["KAFKA_SUPER_USERS"] == "User:splitstream-admin"
    assert environment["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"


def test_stack_init_creates_every_principal_as_the_admin() -> None:
    init = _services()["stack-init"]
    assert "splitstream stack users && splitstream stack up" in init["command"]
    environment = init["environment"]
    assert {f"{ENV_PREFIX}KAFKA_PASSWORD_{role.upper()}" for role in KAFKA_ROLES} <= set(
        environment
    )


#: The setting naming the port of each service's /metrics, and the one naming its address.
METRICS_PORT_AND_HOST = {
    "gateway": ("GATEWAY_PORT", "GATEWAY_HOST"),
    "sink": ("SINK_PORT", "SINK_HOST"),
    "promoter": ("PROMOTER_METRICS_PORT", "STACK_HOST"),
    "windows": ("PROMOTER_AGENT_WEB_PORT", "STACK_HOST"),
    "predictor-prod": ("PREDICTOR_METRICS_PORT", "STACK_HOST"),
    "predictor-candidate": ("PREDICTOR_METRICS_PORT", "STACK_HOST"),
    "scorer": ("PREDICTOR_METRICS_PORT", "STACK_HOST"),
}


def _scrape_targets() -> dict[str, str]:
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    return {
        group["labels"]["service"]: target
        for group in job["static_configs"]
        for target in group["targets"]
    }


@pytest.mark.parametrize("name", [name for name, _ in APP_SERVICES])
def test_prometheus_scrapes_each_service_where_its_metrics_answer(name: str) -> None:
    port_setting, host_setting = METRICS_PORT_AND_HOST[name]
    environment = _services()[name]["environment"]
    port = environment[f"{ENV_PREFIX}{port_setting}"]
    assert _scrape_targets()[name] == f"{name}:{port}"
    # Bound to every address of the container, so Prometheus's container reaches it.
    assert environment[f"{ENV_PREFIX}{host_setting}"] == "0.0.0.0"  # noqa: S104


def test_prometheus_and_grafana_mount_the_deploy_files() -> None:
    mounted = {
        source.removeprefix("./")
        for service in ("prometheus", "grafana")
        for source, _, _ in (v.partition(":") for v in _services()[service]["volumes"])
        if source.startswith("./")
    }
    assert mounted == {
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/rules.yml",
        "deploy/grafana/provisioning",
        "deploy/grafana/dashboards",
    }
    for path in mounted:
        assert (PROJECT_ROOT / path).exists(), path
    dashboards = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
    assert (dashboards / "splitstream.json").is_file()


CLUSTER_ENV_FILE = PROJECT_ROOT / "deploy" / "kafka-cluster.env"
#: Properties that name a node's own host, folder or password: compared separately or not at all.
NODE_OWN = {"node.id", "listeners", "advertised.listeners", "log.dirs", "controller.quorum.voters"}


def _cluster_env() -> dict[str, str]:
    lines = CLUSTER_ENV_FILE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def _interpolated(value: str, env: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME:?message}``, with ``env`` as the env file."""
    pattern = r"\$\{([A-Za-z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}"
    return re.sub(pattern, lambda m: env.get(m[1], m[2] if m[2] is not None else ""), value)


def _broker_properties(node: str, env: dict[str, str]) -> dict[str, str]:
    """A kafka service's KAFKA_* variables as the image turns them into server.properties."""
    properties = {}
    for name, value in _services()[node]["environment"].items():
        if name.startswith("KAFKA_") and name != "KAFKA_HEAP_OPTS":
            key = name.removeprefix("KAFKA_").lower().replace("__", "-").replace("_", ".")
            properties[key] = _interpolated(str(value), env)
    return properties


@pytest.mark.parametrize("replicas", [1, 3], ids=["one node", "cluster profile"])
def test_compose_brokers_have_the_local_stack_settings(replicas: int) -> None:
    env = _cluster_env() if replicas == 3 else {}
    local = dict(
        line.split("=", 1)
        for line in render_server_properties(
            data_dir=Path("/unused"),
            listeners=NodeListeners("kafka", 9092, internal_port=9094, controller_port=9093),
            auth=BrokerAuth("splitstream-admin", "unused"),
            replicas=replicas,
        ).splitlines()[1:]
    )
    nodes = ["kafka", "kafka-2", "kafka-3"][:replicas]
    for node_id, node in enumerate(nodes, start=1):
        compose = _broker_properties(node, env)
        differing = {
            key: (value, compose.get(key))
            for key, value in local.items()
            if key not in NODE_OWN and "jaas" not in key and compose.get(key) != value
        }
        assert differing == {}, node
        assert compose["node.id"] == str(node_id)
        assert compose["advertised.listeners"] == f"CLIENT://{node}:9092,INTERNAL://{node}:9094"
        voters = ",".join(f"{i}@{name}:9093" for i, name in enumerate(nodes, start=1))
        assert compose["controller.quorum.voters"] == voters


def test_the_cluster_profile_runs_three_nodes_and_every_client_knows_them() -> None:
    env = _cluster_env()
    assert env["COMPOSE_PROFILES"] == "cluster"
    assert [n for n, s in _services().items() if "cluster" in s.get("profiles", [])] == [
        "kafka-2",
        "kafka-3",
    ]
    bootstrap = _services()["gateway"]["environment"][f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS"]
    assert _interpolated(bootstrap, env) == "kafka:9092,kafka-2:9092,kafka-3:9092"
    assert _interpolated(bootstrap, {}) == "kafka:9092"
    agent = _services()["windows"]["environment"]
    assert _interpolated(agent[f"{ENV_PREFIX}PROMOTER_AGENT_REPLICATION_FACTOR"], env) == "3"
