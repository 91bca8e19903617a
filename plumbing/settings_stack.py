"""The local stack's settings: every shared base, and what only the stack reads."""

from pathlib import Path

from pydantic import Field

from plumbing.settings import (
    DEFAULT_STATE_DIR,
    ClickHouseSettings,
    GatewayAddressSettings,
    MlflowSettings,
    S3Settings,
)
from plumbing.settings_kafka import KafkaSettings


class StackSettings(
    KafkaSettings,
    S3Settings,
    MlflowSettings,
    ClickHouseSettings,
    GatewayAddressSettings,
):
    """What ``stack/`` reads to run the local Kafka, S3, MLflow and to start the services."""

    lib_dir: Path = Field(
        DEFAULT_STATE_DIR / "lib", description="Folder for the Kafka and S3 server jars."
    )
    kafka_heap_mb: int = Field(512, description="Local broker JVM heap.")
    kafka_start_timeout_s: float = Field(90.0, description="Wait this long for the broker.")
    s3_start_timeout_s: float = Field(90.0, description="Wait this long for the S3 server.")
    mlflow_artifact_prefix: str = Field("mlflow", description="Key prefix for MLflow artifacts.")
    mlflow_start_timeout_s: float = Field(180.0, description="Wait this long for MLflow.")
