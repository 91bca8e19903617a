"""The promoter's and its Faust stream agent's settings: the shared bases they use, and
the fields only they read."""

from pathlib import Path

from pydantic import Field, SecretStr

from plumbing.settings import (
    ClickHouseSettings,
    ExperimentSettings,
    MlflowSettings,
    NicenessSettings,
    S3Settings,
)
from plumbing.settings_kafka import KafkaSettings, PromoterClientSettings


class PromoterSettings(
    PromoterClientSettings,
    S3Settings,
    MlflowSettings,
    ClickHouseSettings,
    ExperimentSettings,
):
    """Everything ``splitstream promoter`` reads (decisions, swaps, ledger)."""

    promoter_policy_file: Path = Field(
        Path(__file__).resolve().parent / "policy.toml",
        description="The decision policy (TOML); see promoter/policy.toml.",
    )
    promoter_metrics_port: int = Field(
        7010, description="Port of the promoter's Prometheus /metrics (also its health check)."
    )
    promoter_evaluate_every_s: float = Field(
        30.0, gt=0, description="Re-evaluate the running experiment this often, trigger or not."
    )
    promoter_ack_timeout_s: float = Field(
        10.0, gt=0, description="Wait this long for every live predictor to ack a reload."
    )
    notify_webhook_url: SecretStr | None = Field(
        None,
        description="Webhook the promoter posts every decision and alert to, as JSON with a "
        "Slack-compatible `text` (retried with backoff, never blocking a decision); unset "
        "posts nothing. A secret: Slack's URLs carry a token.",
    )


class AgentSettings(KafkaSettings, NicenessSettings):
    """Everything ``splitstream promoter agent`` reads (windowed counts -> experiment.trigger)."""

    promoter_trigger_requests: int = Field(
        100, ge=1, description="Trigger at this many candidate requests in a window, and per more."
    )
    promoter_trigger_window_s: int = Field(
        86_400, ge=1, description="Size of the agent's hopping windows (the trigger's window)."
    )
    promoter_window_step_s: int = Field(
        3_600, ge=1, description="Hop of the agent's windows; must divide the window size."
    )
    promoter_agent_store: str = Field(
        "rocksdb://",
        description="Faust table store: rocksdb:// keeps the tables in state_dir/stream-agent "
        "and resumes from their changelog offsets; memory:// replays the changelogs at start.",
    )
    promoter_agent_partitions: int = Field(
        1, ge=1, description="Partitions of the agent's internal and changelog topics."
    )
    promoter_agent_replication_factor: int | None = Field(
        None,
        ge=1,
        description="Replication of the agent's topics; unset: the local stack's "
        "(1 on one node, 3 on a cluster).",
    )
    promoter_agent_web_port: int = Field(
        6066, description="Port of the agent's web view (/counts/ shows the window counts)."
    )
    promoter_agent_join_ttl_s: int = Field(
        3_600, ge=1, description="Feedback later than this after its reply is not joined."
    )
    promoter_agent_counts_log_s: float = Field(
        60.0, gt=0, description="Log the current window counts this often."
    )
    promoter_agent_batch_max_events: int = Field(
        10_000, ge=1, description="Most source events the agent adds up into one batch."
    )
    promoter_agent_fetch_min_bytes: int = Field(
        65_536,
        ge=1,
        description="The agent's fetches wait for this much data (or the max wait): fewer, "
        "larger fetches under traffic.",
    )
    promoter_agent_fetch_max_wait_ms: int = Field(
        500,
        ge=0,
        description="Longest the broker holds one of the agent's fetches short of its minimum "
        "bytes; a restarted agent also counts again that much later.",
    )
    promoter_agent_batch_wait_s: float = Field(
        0.5,
        gt=0,
        description="The agent closes a batch this long after it began waiting; a trigger "
        "can be this late.",
    )

    @property
    def agent_replication_factor(self) -> int:
        """Replicas of the Faust agent's topics (changelogs, repartitions)."""
        return self.promoter_agent_replication_factor or self.kafka_replication_factor
