"""Settings: defaults that work locally, one prefix for every override."""

from pathlib import Path
from typing import get_args

import pytest

from cli.settings import Settings, load_settings
from cli.settings_doc import READERS
from consumers.settings import SinkSettings
from gateway.settings import GatewaySettings
from plumbing.settings import ENV_PREFIX
from plumbing.settings_kafka import KafkaSettings
from plumbing.settings_topics import TopicKey, TopicSettings
from predictors.settings import PredictorSettings
from promoter.settings import AgentSettings, PromoterSettings
from schemas.registry import load_topics
from trainer.settings import TrainerSettings


def test_defaults_work_locally_and_gateway_keeps_the_old_port() -> None:
    settings = load_settings()
    assert settings.gateway_port == 7000
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.s3_endpoint == "http://127.0.0.1:9000"
    assert settings.mlflow_uri == "http://127.0.0.1:5000"
    assert settings.local_kafka and settings.local_s3 and settings.local_mlflow
    assert settings.clickhouse_url is None


def test_every_contract_topic_has_a_name_and_partition_setting() -> None:
    settings = load_settings()
    declared = {t.key: (t.name, t.partitions) for t in load_topics()}
    configured = {t.key: (t.name, t.partitions) for t in settings.topics()}
    assert configured == declared


def test_topic_name_prefix_and_partitions_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}TOPIC_PREFIX", "team-a.")
    monkeypatch.setenv(f"{ENV_PREFIX}TOPIC_FEEDBACK", "labels")
    monkeypatch.setenv(f"{ENV_PREFIX}PARTITIONS_FEEDBACK", "12")
    topic = load_settings().topic("feedback")
    assert (topic.name, topic.partitions) == ("team-a.labels", 12)


def test_existing_services_are_used_instead_of_local_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv(f"{ENV_PREFIX}S3_ENDPOINT_URL", "https://s3.example.internal")
    monkeypatch.setenv(f"{ENV_PREFIX}MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv(f"{ENV_PREFIX}CLICKHOUSE_URL", "http://ch.internal:8123")
    settings = load_settings()
    assert not (settings.local_kafka or settings.local_s3 or settings.local_mlflow)
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.s3_endpoint == "https://s3.example.internal"
    assert settings.mlflow_uri == "http://mlflow.internal:5000"


def test_generated_local_credentials_are_read_but_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "local.env").write_text(
        "SPLITSTREAM_S3_ACCESS_KEY=from-file\nSPLITSTREAM_ADMIN_TOKEN=file-token\n"
    )
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(tmp_path))
    monkeypatch.setenv(f"{ENV_PREFIX}ADMIN_TOKEN", "env-token")
    settings = load_settings()
    assert settings.s3_access_key is not None
    assert settings.s3_access_key.get_secret_value() == "from-file"
    assert settings.admin_token is not None
    assert settings.admin_token.get_secret_value() == "env-token"
    assert "env-token" not in repr(settings)


def test_a_wrongly_typed_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}KAFKA_PORT", "not-a-port")
    with pytest.raises(ValueError, match="kafka_port"):
        load_settings()


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.gateway_port = 1  # type: ignore[misc]


def test_the_typed_topic_fields_list_exactly_the_contract_topics() -> None:
    keys = [t.key for t in load_topics()]
    assert list(get_args(TopicKey)) == keys
    declared = {n for n in TopicSettings.model_fields if n.startswith(("topic_", "partitions_"))}
    expected = {f"topic_{k}" for k in keys} | {f"partitions_{k}" for k in keys}
    assert declared == expected | {"topic_prefix"}
    for spec in load_topics():
        assert TopicSettings.model_fields[f"topic_{spec.key}"].default == spec.name
        assert TopicSettings.model_fields[f"partitions_{spec.key}"].default == spec.partitions


def test_every_setting_is_read_by_some_class_and_the_composite_holds_them_all() -> None:
    held = set().union(*(cls.model_fields for cls in READERS.values()))
    assert held == set(Settings.model_fields)


@pytest.mark.parametrize(
    ("cls", "variable", "field", "value"),
    [
        (GatewaySettings, "GATEWAY_PORT", "gateway_port", 7001),
        (PredictorSettings, "PREDICTOR_BATCH_MAX_ROWS", "predictor_batch_max_rows", 7),
        (SinkSettings, "SINK_BATCH_ROWS", "sink_batch_rows", 9),
        (PromoterSettings, "PROMOTER_ACK_TIMEOUT_S", "promoter_ack_timeout_s", 3.0),
        (AgentSettings, "PROMOTER_TRIGGER_REQUESTS", "promoter_trigger_requests", 5),
        (TrainerSettings, "TRAIN_SEED", "train_seed", 7),
    ],
)
def test_each_service_class_reads_its_variables_by_the_same_names(
    monkeypatch: pytest.MonkeyPatch,
    cls: type[KafkaSettings],
    variable: str,
    field: str,
    value: object,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{variable}", str(value))
    monkeypatch.setenv(f"{ENV_PREFIX}TOPIC_FEEDBACK", "labels")
    settings = cls.load()
    assert getattr(settings, field) == value
    assert settings.topic("feedback").name == "labels"


def test_a_service_class_validates_as_the_composite_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}GATEWAY_MAX_IN_FLIGHT", "0")
    with pytest.raises(ValueError, match="gateway_max_in_flight"):
        GatewaySettings.load()
    with pytest.raises(ValueError, match="gateway_max_in_flight"):
        load_settings()
