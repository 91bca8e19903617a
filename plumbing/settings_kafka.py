"""Kafka settings: how every client reaches the brokers, who it is, and the topics."""

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr

from plumbing.settings import KAFKA_ROLES, KafkaRole
from plumbing.settings_topics import TopicSettings

#: Kafka's own default metadata refresh (5 min), and the local cluster's (see the setting).
KAFKA_METADATA_MAX_AGE_MS = 300_000
CLUSTER_METADATA_MAX_AGE_MS = 1_000


def _password(role: KafkaRole) -> Any:
    return Field(None, description=f"SASL password of the {role} principal (local.env).")


class KafkaSettings(TopicSettings):
    """Kafka: leave kafka_bootstrap_servers unset to run the local broker."""

    kafka_bootstrap_servers: str | None = Field(
        None, description="Existing Kafka cluster; unset runs the local broker."
    )
    kafka_port: int = Field(9092, description="Local broker port.")
    kafka_controller_port: int = Field(9093, description="Local KRaft controller port.")
    kafka_internal_port: int = Field(
        9094,
        description="Local broker's internal listener (SASL/PLAIN, the admin principal only): "
        "inter-broker traffic and the stack's own set-up of users and ACLs.",
    )
    kafka_nodes: int = Field(
        1,
        ge=1,
        le=9,
        description="KRaft nodes (broker and controller each) the local stack runs. 3 makes a "
        "cluster: every topic replicated 3 times with min.insync.replicas=2, so losing one "
        "broker costs a leader election, not an outage. Node i (from 0) listens on each Kafka "
        "port + i * kafka_node_port_step.",
    )
    kafka_node_port_step: int = Field(
        10, ge=3, description="Port distance between the local cluster's nodes."
    )
    kafka_metadata_max_age_ms: int | None = Field(
        None,
        ge=100,
        description="Every Kafka client refreshes its metadata this often. Unset: Kafka's "
        "5 min on one node, 1 s on a local cluster: aiokafka's consumers keep fetching from a "
        "lost leader until their next refresh.",
    )
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
    kafka_password_admin: SecretStr | None = _password("admin")
    kafka_password_gateway: SecretStr | None = _password("gateway")
    kafka_password_predictor: SecretStr | None = _password("predictor")
    kafka_password_sink: SecretStr | None = _password("sink")
    kafka_password_promoter: SecretStr | None = _password("promoter")
    kafka_password_agent: SecretStr | None = _password("agent")
    kafka_password_trainer: SecretStr | None = _password("trainer")
    kafka_password_operator: SecretStr | None = _password("operator")
    kafka_password_batch: SecretStr | None = _password("batch")

    # The consumer groups the ACLs grant (plumbing/kafka_acls.py).
    kafka_batch_group_prefix: str = Field(
        "batch-",
        description="The batch-producer principal may use consumer groups named the topic "
        "prefix plus this, plus anything.",
    )
    sink_group: str = Field(
        "splitstream-sink", description="The sink's consumer group; gets the topic prefix."
    )
    promoter_agent_app_id: str = Field(
        "splitstream-stream-agent",
        description="Faust app id (consumer group, changelog names); gets the topic prefix.",
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

    def as_kafka_role(self, role: KafkaRole) -> Self:
        """These settings, acting as the Kafka principal of ``role``."""
        return self.model_copy(update={"kafka_role": role})

    def with_default_kafka_role(self, role: KafkaRole) -> Self:
        """As ``as_kafka_role``, unless the environment already names a role."""
        return self if self.kafka_role else self.as_kafka_role(role)

    def kafka_user(self, role: KafkaRole) -> str:
        """The SASL user name of ``role`` (its principal is ``User:<name>``)."""
        return self.kafka_principal_prefix + role

    def kafka_password(self, role: KafkaRole) -> SecretStr | None:
        """The SASL password of ``role``, when this process holds it."""
        if role not in KAFKA_ROLES:
            return None
        password: SecretStr | None = getattr(self, f"kafka_password_{role}")
        return password


class PromoterClientSettings(KafkaSettings):
    """What a client of the promoter's commands reads (plumbing/promoter_client.py)."""

    promoter_command_timeout_s: float = Field(
        30.0, gt=0, description="An operator command waits this long for the promoter's answer."
    )
