"""The shared settings bases: what every process reads, and what several services share.

Every field is read from an environment variable named ``SPLITSTREAM_<FIELD>``
(for example ``SPLITSTREAM_GATEWAY_PORT=7001``). Values the local stack
generates itself (the S3 keys, the tokens, the Kafka passwords) are read from
``<state_dir>/local.env``; a real environment variable always wins.

Each service has its own class in its own folder (``gateway/settings.py``, ...),
built from these bases plus the fields only it reads; the Kafka and topic bases
are in ``plumbing/settings_kafka.py`` and ``plumbing/settings_topics.py``, the
local stack's in ``plumbing/settings_stack.py``.
"""

import os
from pathlib import Path
from typing import Any, Literal, Self, get_args

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SPLITSTREAM_"

#: The Kafka principals, one per role (README: Kafka principals). ``admin`` is the stack's
#: own: it creates topics, users and ACLs, and is the broker's only super user.
KafkaRole = Literal[
    "admin", "gateway", "predictor", "sink", "promoter", "agent", "trainer", "operator", "batch"
]
KAFKA_ROLES: tuple[KafkaRole, ...] = get_args(KafkaRole)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE_DIR = PROJECT_ROOT / ".splitstream"


def local_env_file(state_dir: Path) -> Path:
    """The file where the local stack keeps the credentials it generated."""
    return state_dir / "local.env"


class SplitstreamSettings(BaseSettings):
    """The root of every settings class: the prefix, the local.env file, the state folder."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    # Where the local stack keeps all of its state.
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="Folder for all local-stack state.")
    stack_host: str = Field("127.0.0.1", description="Address the local stack binds to.")

    # Chaos tests only (plumbing/failpoints.py).
    failpoints: str = Field(
        "",
        description="Chaos tests only: comma-separated failpoint names (e.g. "
        "`promoter.after_routing_write`); a process that reaches one SIGKILLs itself there.",
    )

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Build fresh settings: overrides, then the environment, then local.env, then
        defaults."""
        state_dir = Path(
            overrides.get("state_dir")
            or os.environ.get(f"{ENV_PREFIX}STATE_DIR", str(DEFAULT_STATE_DIR))
        )
        return cls(_env_file=local_env_file(state_dir), **overrides)


class S3Settings(SplitstreamSettings):
    """S3: leave s3_endpoint_url unset to run the local S3 server."""

    s3_endpoint_url: str | None = Field(
        None, description="Existing S3 endpoint; unset runs the local S3 server."
    )
    s3_port: int = Field(9000, description="Local S3 server port.")
    s3_region: str = Field("us-east-1", description="S3 region name.")
    s3_bucket: str = Field("splitstream", description="Bucket for models, data and MLflow.")
    s3_access_key: SecretStr | None = Field(None, description="S3 access key id.")
    s3_secret_key: SecretStr | None = Field(None, description="S3 secret access key.")

    @property
    def local_s3(self) -> bool:
        return self.s3_endpoint_url is None

    @property
    def s3_endpoint(self) -> str:
        return self.s3_endpoint_url or f"http://{self.stack_host}:{self.s3_port}"


class MlflowSettings(SplitstreamSettings):
    """MLflow: leave mlflow_tracking_uri unset to run the local tracking server."""

    mlflow_tracking_uri: str | None = Field(
        None, description="Existing MLflow server; unset runs the local one."
    )
    mlflow_port: int = Field(5000, description="Local MLflow server port.")
    registered_model_name: str = Field(
        "bengaluru-house-prices", description="MLflow registered model name."
    )

    @property
    def local_mlflow(self) -> bool:
        return self.mlflow_tracking_uri is None

    @property
    def mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"http://{self.stack_host}:{self.mlflow_port}"


class ClickHouseSettings(SplitstreamSettings):
    """ClickHouse, and the sink's read-only /query every reader without a server uses.

    Unset clickhouse_url means embedded chDB in state_dir/chdb.
    """

    clickhouse_url: str | None = Field(
        None, description="ClickHouse server URL (http://user:pass@host:8123); unset uses chDB."
    )
    clickhouse_database: str = Field("splitstream", description="ClickHouse database name.")
    clickhouse_reader_url: str | None = Field(
        None,
        description="ClickHouse server URL of a read-only user (http://user:pass@host:8123), "
        "for every process that only reads; unset uses the sink's /query (chDB).",
    )
    sink_host: str = Field(
        "127.0.0.1", description="Bind address of the sink's /query, /metrics and /healthz."
    )
    sink_port: int = Field(
        7020, description="Sink HTTP port; other processes send read-only SQL to it."
    )
    query_token: SecretStr | None = Field(
        None, description="Bearer token for the sink's read-only /query (local.env)."
    )
    sink_query_timeout_s: float = Field(
        30.0, gt=0, description="Readers give up on a sink query after this long."
    )
    sink_query_max_execution_s: float = Field(
        25.0, gt=0, description="ClickHouse stops a /query statement that runs longer."
    )
    sink_query_max_memory_mb: int = Field(
        1024, ge=1, description="ClickHouse stops a /query statement that needs more memory."
    )
    sink_query_max_result_rows: int = Field(
        1_000_000, ge=1, description="ClickHouse refuses a /query result with more rows."
    )

    @property
    def chdb_path(self) -> Path:
        return self.state_dir / "chdb"


class ExperimentSettings(SplitstreamSettings):
    """The experiment and its split."""

    experiment_id: str = Field("exp-1", description="Experiment id hashed with the split key.")
    candidate_share: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of traffic sent to the candidate."
    )


class RequestIdSettings(SplitstreamSettings):
    """The key of the request ids the gateways issue and the sink checks."""

    request_id_key: SecretStr | None = Field(
        None,
        description="Key the gateways and the sink share: request ids carry its HMAC, so "
        "feedback can name only a request a gateway served (local.env).",
    )


class ModelVerifySettings(SplitstreamSettings):
    """The public key every model manifest is checked against."""

    model_verify_key: str | None = Field(
        None,
        description="Ed25519 public key (base64 of the raw 32 bytes) that model manifests "
        "must be signed with; predictors load no model without it (local.env).",
    )


class NicenessSettings(SplitstreamSettings):
    """The background services' CPU priority."""

    background_niceness: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness the sink, the Faust agent and the trainer add to their own, so "
        "their bursts of CPU do not delay predictions on shared cores; 0 turns it off.",
    )


class GatewayAddressSettings(SplitstreamSettings):
    """Where the gateway listens: the gateway binds it, the stack and tools reach it."""

    gateway_host: str = Field("127.0.0.1", description="Gateway bind address.")
    gateway_port: int = Field(7000, description="Gateway HTTP port (the old stack's port).")
    gateway_workers: int = Field(
        1,
        ge=1,
        description="Gateway processes on the one port (SO_REUSEPORT); worker i owns reply "
        "partition gateway_reply_partition + i. More than one pays off with more cores.",
    )
    gateway_metrics_port: int = Field(
        0,
        ge=0,
        description="With several gateway workers, worker i also serves its own /metrics on "
        "this port + i, for Prometheus to scrape each (the shared port's /metrics answers "
        "from one worker at random); 0: none.",
    )
