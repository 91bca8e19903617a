"""The one settings object: every host, port, topic, bucket and timeout.

Every field is read from an environment variable named ``SPLITSTREAM_<FIELD>``
(for example ``SPLITSTREAM_GATEWAY_PORT=7001``). Values the local stack
generates itself (the S3 keys and the admin token) are read from
``<state_dir>/local.env``; a real environment variable always wins.

Topic names and partition counts are not restated here: one ``topic_<key>``
and one ``partitions_<key>`` field per entry of ``schemas/topics.json`` are
added when the class is built.
"""

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.registry import TopicSpec, load_topics

ENV_PREFIX = "SPLITSTREAM_"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE_DIR = PROJECT_ROOT / ".splitstream"


class Settings(BaseSettings):
    """All Splitstream settings. Build it with ``get_settings()``, which adds the topic fields."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Where the local stack keeps all of its state, and where the jars go.
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="Folder for all local-stack state.")
    lib_dir: Path = Field(
        DEFAULT_STATE_DIR / "lib", description="Folder for the Kafka and S3 server jars."
    )
    stack_host: str = Field("127.0.0.1", description="Address the local stack binds to.")

    # Kafka: leave kafka_bootstrap_servers unset to run the local broker.
    kafka_bootstrap_servers: str | None = Field(
        None, description="Existing Kafka cluster; unset runs the local broker."
    )
    kafka_port: int = Field(9092, description="Local broker port.")
    kafka_controller_port: int = Field(9093, description="Local KRaft controller port.")
    kafka_heap_mb: int = Field(512, description="Local broker JVM heap.")
    kafka_start_timeout_s: float = Field(90.0, description="Wait this long for the broker.")
    topic_prefix: str = Field("", description="Prepended to every topic name.")

    # S3: leave s3_endpoint_url unset to run the local S3 server.
    s3_endpoint_url: str | None = Field(
        None, description="Existing S3 endpoint; unset runs the local S3 server."
    )
    s3_port: int = Field(9000, description="Local S3 server port.")
    s3_region: str = Field("us-east-1", description="S3 region name.")
    s3_bucket: str = Field("splitstream", description="Bucket for models, data and MLflow.")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key id.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_start_timeout_s: float = Field(90.0, description="Wait this long for the S3 server.")

    # MLflow: leave mlflow_tracking_uri unset to run the local tracking server.
    mlflow_tracking_uri: str | None = Field(
        None, description="Existing MLflow server; unset runs the local one."
    )
    mlflow_port: int = Field(5000, description="Local MLflow server port.")
    mlflow_artifact_prefix: str = Field("mlflow", description="Key prefix for MLflow artifacts.")
    mlflow_start_timeout_s: float = Field(120.0, description="Wait this long for MLflow.")

    # ClickHouse: unset clickhouse_url means embedded chDB in state_dir/chdb.
    clickhouse_url: str | None = Field(
        None, description="ClickHouse server URL (http://user:pass@host:8123); unset uses chDB."
    )
    clickhouse_database: str = Field("splitstream", description="ClickHouse database name.")

    gateway_port: int = Field(7000, description="Gateway HTTP port (the old stack's port).")
    admin_token: SecretStr | None = Field(None, description="Bearer token for admin actions.")

    @property
    def local_kafka(self) -> bool:
        """True when Splitstream runs its own broker."""
        return self.kafka_bootstrap_servers is None

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or f"{self.stack_host}:{self.kafka_port}"

    @property
    def local_s3(self) -> bool:
        return self.s3_endpoint_url is None

    @property
    def s3_endpoint(self) -> str:
        return self.s3_endpoint_url or f"http://{self.stack_host}:{self.s3_port}"

    @property
    def local_mlflow(self) -> bool:
        return self.mlflow_tracking_uri is None

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"http://{self.stack_host}:{self.mlflow_port}"

    @property
    def chdb_path(self) -> Path:
        return self.state_dir / "chdb"

    def topic(self, key: str) -> TopicSpec:
        """The topic ``key`` of schemas/topics.json, with its configured name and partitions."""
        return replace(
            _TOPICS[key],
            name=self.topic_prefix + getattr(self, f"topic_{key}"),
            partitions=getattr(self, f"partitions_{key}"),
        )

    def topics(self) -> list[TopicSpec]:
        return [self.topic(key) for key in _TOPICS]


_TOPICS: dict[str, TopicSpec] = {t.key: t for t in load_topics()}


def _topic_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for spec in _TOPICS.values():
        fields[f"topic_{spec.key}"] = (
            str,
            Field(spec.name, description=f"Topic name: {spec.description}"),
        )
        fields[f"partitions_{spec.key}"] = (
            int,
            Field(spec.partitions, ge=1, description=f"Partitions of {spec.name}."),
        )
    return fields


# The class get_settings() builds: Settings plus one name and partition field per topic.
_SettingsWithTopics = create_model(  # type: ignore[call-overload]
    "Settings", __base__=Settings, **_topic_fields()
)


def local_env_file(state_dir: Path) -> Path:
    """The file where the local stack keeps the credentials it generated."""
    return state_dir / "local.env"


@lru_cache
def get_settings() -> Settings:
    """Build the settings once per process; tests call ``get_settings.cache_clear()``."""
    return load_settings()


def load_settings(**overrides: Any) -> Settings:
    """Build fresh settings: overrides, then the environment, then local.env, then defaults."""
    state_dir = Path(
        overrides.get("state_dir") or os.environ.get(f"{ENV_PREFIX}STATE_DIR", DEFAULT_STATE_DIR)
    )
    settings: Settings = _SettingsWithTopics(_env_file=local_env_file(state_dir), **overrides)
    return settings
