"""The sink's settings: the shared bases it uses, and the fields only it reads."""

from pydantic import Field

from plumbing.settings import ClickHouseSettings, NicenessSettings, RequestIdSettings
from plumbing.settings_kafka import KafkaSettings


class SinkSettings(KafkaSettings, ClickHouseSettings, RequestIdSettings, NicenessSettings):
    """Everything ``splitstream sink`` reads (every topic into ClickHouse; its HTTP port
    also answers read-only SQL)."""

    sink_batch_rows: int = Field(
        10_000, ge=1, description="A batch is written once it holds this many messages."
    )
    sink_batch_seconds: float = Field(
        1.0, gt=0, description="A batch is written once its first message is this old."
    )
    sink_fetch_min_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="The broker answers the sink's fetch once this much data waits (or after "
        "sink_fetch_max_wait_ms): a few fetches a second, not one per produced record.",
    )
    sink_fetch_max_wait_ms: int = Field(
        500,
        ge=0,
        description="Longest the broker holds a sink fetch short of its minimum bytes. Longer "
        "saves a little CPU at rest, but burstier inserts raised the full system's p99.",
    )
