"""The predictors' settings: the shared bases they use, and the fields only they read."""

from pydantic import Field

from plumbing.settings import ExperimentSettings, ModelVerifySettings, S3Settings
from plumbing.settings_kafka import KafkaSettings


class PredictorSettings(KafkaSettings, S3Settings, ExperimentSettings, ModelVerifySettings):
    """Everything ``splitstream predictor`` reads."""

    kafka_listener_fetch_max_wait_ms: int = Field(
        10_000,
        ge=0,
        description="The same for a predictor's model.events listener, which assigns its "
        "partitions itself (no rebalance) and hears a broadcast at once: fewer idle fetches.",
    )
    predictor_batch_max_rows: int = Field(500, description="Most requests predicted in one call.")
    predictor_slot_refresh_s: float = Field(
        15.0, description="Safety net: re-read the routing object this often."
    )
    predictor_metrics_port: int = Field(
        0, description="Port of a predictor's /metrics; 0 picks a free one."
    )
