"""The broker's server.properties: SASL on every listener, and the authorizer refusing by
default (the rendering issue 15's cluster will reuse per node)."""

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from plumbing.settings import load_settings
from stack import kafka_service
from stack.errors import ServiceStartError
from stack.kafka_node import BrokerAuth, NodeListeners, render_server_properties

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
