"""The broker's server.properties: SASL on every listener, and the authorizer refusing by
default (the rendering issue 15's cluster will reuse per node)."""

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from cli.settings import load_settings
from stack import kafka_service, local
from stack.errors import ServiceStartError
from stack.kafka_properties import BrokerAuth, NodeListeners, render_server_properties

LISTENERS = NodeListeners("127.0.0.1", client_port=9092, internal_port=9094, controller_port=9093)
AUTH = BrokerAuth(admin_user="splitstream-admin", admin_password=secrets.token_urlsafe(24))


def _properties(**overrides: object) -> dict[str, str]:
    text = render_server_properties(
        data_dir=Path("/tmp/kafka-data"),
        listeners=overrides.pop("listeners", LISTENERS),  # type: ignore[arg-type]
        auth=AUTH,
        **overrides,  # type: ignore[arg-type]
    )
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_every_listener_takes_sasl_and_none_is_plaintext() -> None:
    props = _properties()
    protocols = dict(p.split(":") for p in props["listener.security.protocol.map"].split(","))
    assert protocols == {
        "CLIENT": "SASL_PLAINTEXT",
        "INTERNAL": "SASL_PLAINTEXT",
        "CONTROLLER": "SASL_PLAINTEXT",
    }
    assert "PLAINTEXT://" not in props["listeners"]
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["inter.broker.listener.name"] == "INTERNAL"
    assert props["advertised.listeners"] == "CLIENT://127.0.0.1:9092,INTERNAL://127.0.0.1:9094"


def test_the_authorizer_refuses_what_no_acl_allows_and_only_the_admin_is_super() -> None:
    props = _properties()
    assert props["authorizer.class.name"].endswith(".StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:splitstream-admin"


def test_the_admin_is_the_one_plain_user_of_the_internal_and_controller_listeners() -> None:
    props = _properties()
    for listener in ("internal", "controller"):
        jaas = props[f"listener.name.{listener}.plain.sasl.jaas.config"]
        assert f'username="splitstream-admin" password="{AUTH.admin_password}"' in jaas
        assert jaas.count("user_") == 1
    assert props["sasl.mechanism.controller.protocol"] == "PLAIN"


def test_a_node_of_a_larger_quorum_names_its_id_and_the_voters() -> None:
    props = _properties(node_id=2, quorum_voters="1@h:1,2@h:2,3@h:3")
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == "1@h:1,2@h:2,3@h:3"


def test_the_local_broker_refuses_a_client_setting_it_cannot_serve(tmp_path: Path) -> None:
    for change in ({"kafka_security_protocol": "PLAINTEXT"}, {"kafka_sasl_mechanism": "PLAIN"}):
        settings = load_settings(state_dir=tmp_path, kafka_password_admin=SecretStr("x"), **change)
        with pytest.raises(ServiceStartError, match="SASL_PLAINTEXT with SCRAM only"):
            kafka_service.write_config(settings)


def test_one_node_keeps_every_replication_factor_at_one() -> None:
    props = _properties()
    factors = [v for k, v in props.items() if k.endswith(("replication.factor", "min.isr"))]
    assert set(factors) == {"1"} and props["min.insync.replicas"] == "1"
    assert "broker.session.timeout.ms" not in props  # Kafka's default on one node


def test_a_cluster_node_replicates_everything_three_times_and_writes_to_two() -> None:
    props = _properties(replicas=3, node_id=2, quorum_voters="1@h:1,2@h:2,3@h:3")
    for key in (
        "default.replication.factor",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "3", key
    assert props["min.insync.replicas"] == "2"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"
    assert int(props["broker.session.timeout.ms"]) <= 5000  # a lost broker is fenced fast
    assert props["controller.quorum.voters"] == "1@h:1,2@h:2,3@h:3"
    # the same SASL and authorizer as one node
    assert props["super.users"] == "User:splitstream-admin"
    assert props["sasl.mechanism.inter.broker.protocol"] == "PLAIN"


def test_three_local_nodes_get_their_own_ports_folders_logs_and_one_quorum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPLITSTREAM_KAFKA_NODES", "3")
    settings = load_settings(
        state_dir=tmp_path, kafka_password_admin=SecretStr(secrets.token_urlsafe(12))
    )
    assert settings.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9102,127.0.0.1:9112"
    assert settings.kafka_replication_factor == 3 and settings.agent_replication_factor == 3
    processes = kafka_service.processes(settings)
    assert [p.name for p in processes] == ["kafka", "kafka-2", "kafka-3"]
    assert [p.ports for p in processes] == [
        [9092, 9093, 9094],
        [9102, 9103, 9104],
        [9112, 9113, 9114],
    ]
    assert len({p.log_file for p in processes}) == 3
    # `stack status` lists what local.status finds: each node, between S3 and MLflow
    assert [p.name for p in local.local_processes(settings)] == [
        "s3",
        "kafka",
        "kafka-2",
        "kafka-3",
        "mlflow",
    ]
    kafka_service.write_config(settings)
    folders = [n.folder for n in kafka_service.nodes(settings)]
    assert folders == [tmp_path / "kafka", tmp_path / "kafka-2", tmp_path / "kafka-3"]
    for node_id, folder in enumerate(folders, start=1):
        text = (folder / "server.properties").read_text()
        assert f"node.id={node_id}\n" in text
        assert "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9103,3@127.0.0.1:9113" in text
        assert f"log.dirs={(folder / 'data' / 'kraft-logs').resolve()}" in text


def test_one_local_node_is_the_stack_as_it_was(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert [p.name for p in kafka_service.processes(settings)] == ["kafka"]
    assert settings.agent_replication_factor == 1
