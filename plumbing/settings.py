"""The one settings object: every host, port, topic, bucket and timeout.

Every field is read from an environment variable named ``SPLITSTREAM_<FIELD>``
(for example ``SPLITSTREAM_GATEWAY_PORT=7001``). Values the local stack
generates itself (the S3 keys, the tokens, the Kafka passwords) are read from
``<state_dir>/local.env``; a real environment variable always wins.

Topic names and partition counts are not restated here: one ``topic_<key>``
and one ``partitions_<key>`` field per entry of ``schemas/topics.json`` are
added when the class is built, as is one ``kafka_password_<role>`` per Kafka role.
"""

import os
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, SecretStr, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.registry import TopicSpec, load_topics

ENV_PREFIX = "SPLITSTREAM_"

#: The Kafka principals, one per role (README: Kafka principals). ``admin`` is the stack's
#: own: it creates topics, users and ACLs, and is the broker's only super user.
KafkaRole = Literal[
    "admin", "gateway", "predictor", "sink", "promoter", "agent", "trainer", "operator", "batch"
]
KAFKA_ROLES: tuple[KafkaRole, ...] = get_args(KafkaRole)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Kafka's own default metadata refresh (5 min), and the local cluster's (see the setting).
KAFKA_METADATA_MAX_AGE_MS = 300_000
CLUSTER_METADATA_MAX_AGE_MS = 1_000
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
    kafka_nodes: int = Field(
        1,
        ge=1,
        le=9,
        description="KRaft nodes (broker and controller each) the local stack runs. 3 makes a "
        "cluster: every topic replicated 3 times with min.insync.replicas=2, so losing one "
        "broker costs a leader election, not an outage. Node i (from 0) listens on each Kafka "
        "port + i * kafka_node_port_step.",
    )
    kafka_metadata_max_age_ms: int | None = Field(
        None,
        ge=100,
        description="Every Kafka client refreshes its metadata this often. Unset: Kafka's "
        "5 min on one node, 1 s on a local cluster: aiokafka's consumers keep fetching from a "
        "lost leader until their next refresh.",
    )
    kafka_node_port_step: int = Field(
        10, ge=3, description="Port distance between the local cluster's nodes."
    )
    kafka_start_timeout_s: float = Field(90.0, description="Wait this long for the broker.")
    topic_prefix: str = Field("", description="Prepended to every topic name.")
    kafka_linger_ms: int = Field(0, description="Producer linger; 0 sends at once (latency).")
    kafka_session_timeout_ms: int = Field(
        6000, description="Consumer session timeout: how fast a dead worker's partitions move."
    )
    kafka_max_poll_records: int = Field(500, description="Most records one poll returns.")
    kafka_fetch_max_wait_ms: int = Field(
        1000,
        ge=0,
        description="Longest the broker holds a consumer group's fetch with no data. A record "
        "answers a waiting fetch at once (fetch_min_bytes=1), so this bounds idle polling, not "
        "latency; but partitions a rebalance assigns wait for the pending fetch to return.",
    )
    kafka_listener_fetch_max_wait_ms: int = Field(
        3000,
        ge=0,
        description="The same for a predictor's model.events listener, which assigns its "
        "partitions itself (no rebalance) and hears a broadcast at once: fewer idle fetches.",
    )
    kafka_internal_port: int = Field(
        9094,
        description="Local broker's internal listener (SASL/PLAIN, the admin principal only): "
        "inter-broker traffic and the stack's own set-up of users and ACLs.",
    )
    kafka_security_protocol: Literal["SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT"] = Field(
        "SASL_PLAINTEXT",
        description="How clients reach Kafka: SASL_PLAINTEXT (the local stack), SASL_SSL, or "
        "PLAINTEXT (no identity: only for a cluster without authentication).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism of every Kafka client."
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="SASL_SSL only: CA bundle that signs the brokers' certificates."
    )
    kafka_role: KafkaRole | None = Field(
        None,
        description="The Kafka principal this process uses (one of "
        + ", ".join(KAFKA_ROLES)
        + "). The stack sets it for each service it starts; unset, each command uses its own "
        "(operators' commands: operator).",
    )
    kafka_principal_prefix: str = Field(
        "splitstream-", description="SASL user names are this plus the role."
    )
    kafka_batch_group_prefix: str = Field(
        "batch-",
        description="The batch-producer principal may use consumer groups named the topic "
        "prefix plus this, plus anything.",
    )

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
    mlflow_start_timeout_s: float = Field(180.0, description="Wait this long for MLflow.")

    # ClickHouse: unset clickhouse_url means embedded chDB in state_dir/chdb.
    clickhouse_url: str | None = Field(
        None, description="ClickHouse server URL (http://user:pass@host:8123); unset uses chDB."
    )
    clickhouse_database: str = Field("splitstream", description="ClickHouse database name.")
    clickhouse_reader_url: str | None = Field(
        None,
        description="ClickHouse server URL of a read-only user (http://user:pass@host:8123), "
        "for every process that only reads; unset uses the sink's /query (chDB).",
    )

    admin_token: SecretStr | None = Field(None, description="Bearer token for admin actions.")
    query_token: SecretStr | None = Field(
        None, description="Bearer token for the sink's read-only /query (local.env)."
    )
    request_id_key: SecretStr | None = Field(
        None,
        description="Key the gateways and the sink share: request ids carry its HMAC, so "
        "feedback can name only a request a gateway served (local.env).",
    )
    model_signing_key: SecretStr | None = Field(
        None,
        description="Trainer only: Ed25519 private key (base64 of the raw 32 bytes) that "
        "signs model manifests (local.env).",
    )
    model_verify_key: str | None = Field(
        None,
        description="Ed25519 public key (base64 of the raw 32 bytes) that model manifests "
        "must be signed with; predictors load no model without it (local.env).",
    )

    # The experiment and its split.
    experiment_id: str = Field("exp-1", description="Experiment id hashed with the split key.")
    candidate_share: float = Field(
        0.2, ge=0.0, le=1.0, description="Share of traffic sent to the candidate."
    )

    shadow_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of prod requests also sent to the candidate as shadow copies: "
        "recorded, never returned, and compared pairwise once feedback arrives.",
    )

    # Gateway.
    gateway_host: str = Field("127.0.0.1", description="Gateway bind address.")
    gateway_port: int = Field(7000, description="Gateway HTTP port (the old stack's port).")
    gateway_reply_partition: int = Field(
        0, ge=0, description="This gateway's own partition of the replies topic."
    )
    reply_timeout_s: float = Field(2.0, gt=0, description="Deadline for a prediction reply.")
    gateway_routing_refresh_s: float = Field(
        10.0,
        gt=0,
        description="Safety net: re-read the slots and the split this often (any "
        "model.events message makes the gateway re-read them at once).",
    )
    background_niceness: int = Field(
        10,
        ge=0,
        le=19,
        description="Niceness the sink, the Faust agent and the trainer add to their own, so "
        "their bursts of CPU do not delay predictions on shared cores; 0 turns it off.",
    )
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
    gateway_max_in_flight: int = Field(
        256,
        ge=1,
        description="Predictions one gateway process handles at once; more get 503 and "
        "Retry-After at once (admission control), so an overload cannot sink the rest.",
    )
    gateway_max_loop_lag_ms: float = Field(
        200.0,
        ge=0,
        description="Refuse predictions with 503 at once while the gateway's event loop runs "
        "this far behind (two ticks in a row): its CPU is short and requests wait unseen in "
        "socket buffers. Measured here: lower bounds refused at normal load on a busy machine. "
        "0: never refuse for lag.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS (JSON list); none by default."
    )
    max_body_bytes: int = Field(16_384, description="Largest request body the gateway reads.")
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost"],
        description="Host headers the gateway answers (JSON list; `*.example.com` patterns); "
        "others get 400.",
    )

    # Predictors.
    predictor_batch_max_rows: int = Field(500, description="Most requests predicted in one call.")
    predictor_slot_refresh_s: float = Field(
        15.0, description="Safety net: re-read the routing object this often."
    )
    predictor_metrics_port: int = Field(
        0, description="Port of a predictor's /metrics; 0 picks a free one."
    )

    # Sink (every topic into ClickHouse; its HTTP port also answers read-only SQL).
    sink_host: str = Field(
        "127.0.0.1", description="Bind address of the sink's /query, /metrics and /healthz."
    )
    sink_port: int = Field(
        7020, description="Sink HTTP port; other processes send read-only SQL to it."
    )
    sink_group: str = Field(
        "splitstream-sink", description="The sink's consumer group; gets the topic prefix."
    )
    sink_batch_rows: int = Field(
        10_000, ge=1, description="A batch is written once it holds this many messages."
    )
    sink_batch_seconds: float = Field(
        1.0, gt=0, description="A batch is written once its first message is this old."
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
    sink_fetch_min_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="The broker answers the sink's fetch once this much data waits (or after "
        "sink_fetch_max_wait_ms): a few fetches a second, not one per produced record.",
    )
    sink_fetch_max_wait_ms: int = Field(
        500, ge=0, description="Longest the broker holds a sink fetch short of its minimum bytes."
    )

    # Promoter (decisions, swaps, ledger).
    promoter_policy_file: Path = Field(
        Path(__file__).resolve().parent.parent / "promoter" / "policy.toml",
        description="The decision policy (TOML); see promoter/policy.toml.",
    )
    promoter_evaluate_every_s: float = Field(
        30.0, gt=0, description="Re-evaluate the running experiment this often, trigger or not."
    )
    promoter_ack_timeout_s: float = Field(
        10.0, gt=0, description="Wait this long for every live predictor to ack a reload."
    )
    promoter_metrics_port: int = Field(
        7010, description="Port of the promoter's Prometheus /metrics (also its health check)."
    )
    notify_webhook_url: SecretStr | None = Field(
        None,
        description="Webhook the promoter posts every decision and alert to, as JSON with a "
        "Slack-compatible `text` (retried with backoff, never blocking a decision); unset "
        "posts nothing. A secret: Slack's URLs carry a token.",
    )
    promoter_command_timeout_s: float = Field(
        30.0, gt=0, description="An operator command waits this long for the promoter's answer."
    )

    # Promoter: the Faust stream agent (windowed counts -> experiment.trigger).
    promoter_trigger_requests: int = Field(
        100, ge=1, description="Trigger at this many candidate requests in a window, and per more."
    )
    promoter_trigger_window_s: int = Field(
        86_400, ge=1, description="Size of the agent's hopping windows (the trigger's window)."
    )
    promoter_window_step_s: int = Field(
        3_600, ge=1, description="Hop of the agent's windows; must divide the window size."
    )
    promoter_agent_app_id: str = Field(
        "splitstream-stream-agent",
        description="Faust app id (consumer group, changelog names); gets the topic prefix.",
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
        500, ge=0, description="Longest the broker holds one of the agent's fetches."
    )
    promoter_agent_batch_wait_s: float = Field(
        0.5,
        gt=0,
        description="The agent closes a batch this long after it began waiting; a trigger "
        "can be this late.",
    )

    # Trainer.
    data_path: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data" / "bengaluru_house_prices.csv",
        description="Local copy of the data set; downloaded when missing.",
    )
    data_url: str = Field(
        "https://raw.githubusercontent.com/codebasics/py/"
        "801ee0ee4d342fd22b89915dc0c4864250a0ec10/"
        "DataScience/BangloreHomePrices/model/bengaluru_house_prices.csv",
        description="Public source of the data set.",
    )
    data_sha256: str = Field(
        "23ddf71be7d79a259b62e125b9d56cb531f9d051b0da650c0fe7cc82365a1015",
        description="Expected sha256 of the data set.",
    )
    train_test_size: float = Field(0.2, description="Share of rows held out for testing.")
    train_seed: int = Field(42, description="Seed of the split and of every model.")
    train_r2_floor: float = Field(0.6, description="A model below this test R² is not published.")
    train_max_mae_regression: float = Field(
        0.05, description="Refuse a model whose test MAE is worse than best's by more (ratio)."
    )
    train_cron: str = Field("0 3 * * 1", description="When `splitstream trainer` trains (cron).")
    registered_model_name: str = Field(
        "bengaluru-house-prices", description="MLflow registered model name."
    )

    # Chaos tests only (plumbing/failpoints.py).
    failpoints: str = Field(
        "",
        description="Chaos tests only: comma-separated failpoint names (e.g. "
        "`promoter.after_routing_write`); a process that reaches one SIGKILLs itself there.",
    )

    @property
    def local_kafka(self) -> bool:
        """True when Splitstream runs its own broker."""
        return self.kafka_bootstrap_servers is None

    @property
    def kafka_bootstrap(self) -> str:
        """Every node's client listener, so a client starts even with one node down."""
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        return ",".join(f"{self.stack_host}:{port}" for port in self.kafka_node_ports("client"))

    def kafka_node_ports(self, listener: Literal["client", "internal", "controller"]) -> list[int]:
        """The port of ``listener`` on each local node, node 1 first."""
        base = {
            "client": self.kafka_port,
            "internal": self.kafka_internal_port,
            "controller": self.kafka_controller_port,
        }[listener]
        return [base + i * self.kafka_node_port_step for i in range(self.kafka_nodes)]

    @property
    def kafka_replication_factor(self) -> int:
        """Replicas of each topic on the local stack: every node, at most 3."""
        return min(self.kafka_nodes, 3)

    @property
    def metadata_max_age_ms(self) -> int:
        """How often clients refresh metadata (kafka_metadata_max_age_ms, or its default)."""
        if self.kafka_metadata_max_age_ms is not None:
            return self.kafka_metadata_max_age_ms
        return CLUSTER_METADATA_MAX_AGE_MS if self.kafka_nodes > 1 else KAFKA_METADATA_MAX_AGE_MS

    @property
    def agent_replication_factor(self) -> int:
        """Replicas of the Faust agent's topics (changelogs, repartitions)."""
        return self.promoter_agent_replication_factor or self.kafka_replication_factor

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

    def as_kafka_role(self, role: KafkaRole) -> "Settings":
        """These settings, acting as the Kafka principal of ``role``."""
        return self.model_copy(update={"kafka_role": role})

    def with_default_kafka_role(self, role: KafkaRole) -> "Settings":
        """As ``as_kafka_role``, unless the environment already names a role."""
        return self if self.kafka_role else self.as_kafka_role(role)

    def kafka_user(self, role: KafkaRole) -> str:
        """The SASL user name of ``role`` (its principal is ``User:<name>``)."""
        return self.kafka_principal_prefix + role

    def kafka_password(self, role: KafkaRole) -> SecretStr | None:
        """The SASL password of ``role``, when this process holds it."""
        password: SecretStr | None = getattr(self, f"kafka_password_{role}", None)
        return password

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


def _kafka_password_fields() -> dict[str, Any]:
    return {
        f"kafka_password_{role}": (
            SecretStr | None,
            Field(None, description=f"SASL password of the {role} principal (local.env)."),
        )
        for role in KAFKA_ROLES
    }


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


# The class get_settings() builds: Settings plus one password field per Kafka principal and
# one name and partition field per topic.
_SettingsWithTopics = create_model(
    "Settings", __base__=Settings, **_kafka_password_fields(), **_topic_fields()
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
        overrides.get("state_dir")
        or os.environ.get(f"{ENV_PREFIX}STATE_DIR", str(DEFAULT_STATE_DIR))
    )
    settings: Settings = _SettingsWithTopics(_env_file=local_env_file(state_dir), **overrides)
    return settings
