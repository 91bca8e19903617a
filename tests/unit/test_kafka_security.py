"""The one place Kafka clients get their identity: the SASL kwargs per library."""

import secrets

import faust
import pytest
from pydantic import SecretStr

from cli.settings import Settings, load_settings
from plumbing.errors import KafkaCredentialsError
from plumbing.kafka_security import client_security

SINK_PASSWORD = secrets.token_urlsafe(16)


def _settings(**overrides: object) -> Settings:
    return load_settings(kafka_password_sink=SecretStr(SINK_PASSWORD), **overrides)


@pytest.mark.parametrize("library", ["kafka-python", "aiokafka"])
def test_kafka_python_and_aiokafka_log_in_as_the_processs_principal(library: str) -> None:
    kwargs = client_security(_settings().as_kafka_role("sink"), library)  # type: ignore[arg-type]

    assert kwargs == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "splitstream-sink",
        "sasl_plain_password": SINK_PASSWORD,
    }


def test_faust_gets_the_same_identity_as_broker_credentials() -> None:
    kwargs = client_security(_settings().as_kafka_role("sink"), "faust")

    credentials = kwargs["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("splitstream-sink", SINK_PASSWORD)
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_PLAINTEXT"


def test_the_principal_prefix_and_mechanism_are_settings() -> None:
    settings = _settings(kafka_principal_prefix="team-a-", kafka_sasl_mechanism="SCRAM-SHA-256")

    kwargs = client_security(settings.as_kafka_role("sink"), "kafka-python")

    assert kwargs["sasl_plain_username"] == "team-a-sink"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256"


def test_a_cluster_without_authentication_gets_no_security_settings() -> None:
    assert client_security(_settings(kafka_security_protocol="PLAINTEXT"), "aiokafka") == {}


def test_no_principal_chosen_is_a_clear_error() -> None:
    with pytest.raises(KafkaCredentialsError, match="SPLITSTREAM_KAFKA_ROLE"):
        client_security(_settings(), "kafka-python")


def test_a_principal_without_its_password_is_a_clear_error() -> None:
    with pytest.raises(KafkaCredentialsError, match="SPLITSTREAM_KAFKA_PASSWORD_GATEWAY"):
        client_security(_settings().as_kafka_role("gateway"), "kafka-python")


def test_a_role_named_by_the_environment_wins_over_a_commands_default() -> None:
    named = _settings(kafka_role="operator")

    assert named.with_default_kafka_role("gateway").kafka_role == "operator"
    assert _settings().with_default_kafka_role("gateway").kafka_role == "gateway"
    assert named.as_kafka_role("promoter").kafka_role == "promoter"


def test_sasl_ssl_carries_the_ca_file() -> None:
    settings = _settings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile="/etc/ca.pem")

    kwargs = client_security(settings.as_kafka_role("sink"), "kafka-python")

    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["ssl_cafile"] == "/etc/ca.pem"
