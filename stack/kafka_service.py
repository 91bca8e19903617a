"""The stack's own Kafka nodes as supervised processes, and the check of an existing cluster.

``stack.local`` starts them with the other backing services; ``stack.kafka_properties``
renders their server.properties, ``stack.kafka_node`` their command lines, and
``stack.kafka_access`` sets up users, topics and ACLs.

One node by default (``kafka``, in ``<state>/kafka``, log ``logs/kafka.log``); with
``SPLITSTREAM_KAFKA_NODES=3`` nodes 2 and 3 run beside it as ``kafka-2`` and ``kafka-3``,
each with its own ports, folder and log, in one static KRaft quorum.
"""

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from plumbing.settings_stack import StackSettings
from stack import kafka_access, kafka_admin, kafka_node, kafka_properties, state_dirs
from stack.errors import ServiceStartError
from stack.paths import StackPaths
from stack.supervisor import ServiceProcess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KafkaNode:
    """One local KRaft node: its id, service name, folder and listeners."""

    node_id: int
    name: str
    folder: Path
    listeners: kafka_properties.NodeListeners

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def properties_file(self) -> Path:
        return self.folder / "server.properties"

    @property
    def internal_address(self) -> str:
        return f"{self.listeners.host}:{self.listeners.internal_port}"


def node_name(node_id: int) -> str:
    """``kafka`` for node 1 (as a single-node stack has always named it), else ``kafka-<id>``."""
    return "kafka" if node_id == 1 else f"kafka-{node_id}"


def nodes(settings: StackSettings) -> list[KafkaNode]:
    """The local nodes, node 1 first."""
    paths = StackPaths(settings.state_dir)
    ports = zip(
        settings.kafka_node_ports("client"),
        settings.kafka_node_ports("internal"),
        settings.kafka_node_ports("controller"),
        strict=True,
    )
    return [
        KafkaNode(
            node_id=i,
            name=node_name(i),
            folder=paths.kafka_dir if i == 1 else paths.state_dir / node_name(i),
            listeners=kafka_properties.NodeListeners(
                host=settings.stack_host,
                client_port=client,
                internal_port=internal,
                controller_port=controller,
            ),
        )
        for i, (client, internal, controller) in enumerate(ports, start=1)
    ]


def is_kafka_node(name: str) -> bool:
    return name == "kafka" or name.startswith("kafka-")


def write_config(settings: StackSettings) -> None:
    """server.properties of every node, mode 600: it holds the admin's password (JAAS lines)."""
    if settings.kafka_security_protocol != "SASL_PLAINTEXT" or "SCRAM" not in (
        settings.kafka_sasl_mechanism
    ):
        raise ServiceStartError(
            "kafka: the local broker takes SASL_PLAINTEXT with SCRAM only; "
            f"{settings.kafka_security_protocol}/{settings.kafka_sasl_mechanism} is for an "
            "existing cluster (set SPLITSTREAM_KAFKA_BOOTSTRAP_SERVERS)"
        )
    admin_password = settings.kafka_password("admin")
    if admin_password is None:
        raise ServiceStartError("kafka: no admin password configured (run `splitstream stack up`)")
    auth = kafka_properties.BrokerAuth(
        admin_user=settings.kafka_user("admin"),
        admin_password=admin_password.get_secret_value(),
        client_mechanism=settings.kafka_sasl_mechanism,
    )
    all_nodes = nodes(settings)
    voters = None
    if len(all_nodes) > 1:
        voters = kafka_properties.quorum_voters(
            settings.stack_host, settings.kafka_node_ports("controller")
        )
    for node in all_nodes:
        state_dirs.make_private(node.folder)
        node.properties_file.touch(mode=0o600)
        node.properties_file.chmod(0o600)
        node.properties_file.write_text(
            kafka_properties.render_server_properties(
                data_dir=node.data_dir,
                listeners=node.listeners,
                auth=auth,
                node_id=node.node_id,
                quorum_voters=voters,
                replicas=settings.kafka_replication_factor,
            )
        )


def process(settings: StackSettings, node_id: int = 1) -> ServiceProcess:
    """The supervised process of node ``node_id`` (1: the only one on a single node)."""
    node = nodes(settings)[node_id - 1]
    paths = StackPaths(settings.state_dir)
    lib_dir = settings.lib_dir / "kafka"
    listeners = node.listeners
    return ServiceProcess(
        name=node.name,
        command=kafka_node.server_command(
            lib_dir=lib_dir,
            properties_file=node.properties_file,
            log4j_config=kafka_node.LOG4J_CONFIG,
            heap_mb=settings.kafka_heap_mb,
        ),
        ports=[listeners.client_port, listeners.controller_port, listeners.internal_port],
        log_file=paths.log_dir / f"{node.name}.log",
        run_dir=paths.run_dir,
        is_ready=_readiness(settings, node),
        start_timeout_s=settings.kafka_start_timeout_s,
    )


def processes(settings: StackSettings) -> list[ServiceProcess]:
    """Every local node's process, node 1 first."""
    return [process(settings, node.node_id) for node in nodes(settings)]


def _readiness(settings: StackSettings, node: KafkaNode) -> "kafka_access.Probe":
    if settings.kafka_nodes == 1:
        return lambda: kafka_access.is_ready(settings)
    # In a cluster another node answering proves nothing: this one must be registered
    # (unfenced) in the metadata it serves itself.
    return lambda: kafka_access.node_is_ready(settings, node.internal_address, node.node_id)


def format_storage(settings: StackSettings, process: ServiceProcess) -> None:
    """Format each node's KRaft storage on first start only; later starts keep the data.

    All nodes share one cluster id: a node formatted before (a partial earlier start)
    lends its id to the others.
    """
    pending = [n for n in nodes(settings) if kafka_node.needs_format(n.data_dir)]
    if not pending:
        return
    cluster_id = _existing_cluster_id(settings) or kafka_node.new_cluster_id()
    state_dirs.make_private(process.log_file.parent)
    running = []  # one JVM per node, all at once: each takes seconds to start
    for node in pending:
        command = kafka_node.format_command(
            lib_dir=settings.lib_dir / "kafka",
            properties_file=node.properties_file,
            cluster_id=cluster_id,
        )
        log_file = process.log_file.with_name(f"{node.name}.log")
        with log_file.open("ab") as out:
            running.append((node, log_file, subprocess.Popen(command, stdout=out, stderr=out)))
    failed = [(node, log_file) for node, log_file, proc in running if proc.wait() != 0]
    if failed:
        node, log_file = failed[0]
        raise ServiceStartError(f"{node.name}: storage format failed; see {log_file}")


def _existing_cluster_id(settings: StackSettings) -> str | None:
    for node in nodes(settings):
        meta = kafka_node.log_dir(node.data_dir) / "meta.properties"
        if meta.is_file():
            for line in meta.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "cluster.id":
                    return value.strip()
    return None


def check_external(settings: StackSettings) -> None:
    """With the admin's password (or no SASL), create the topics and ACLs; else only probe."""
    bootstrap = settings.kafka_bootstrap
    if settings.kafka_security_protocol != "PLAINTEXT" and not settings.kafka_password("admin"):
        if not kafka_admin.port_open(bootstrap, timeout_s=10):
            raise ServiceStartError(f"kafka at {bootstrap} does not answer")
        log.info("kafka at %s: no admin password; its topics and ACLs must exist", bootstrap)
        return
    if not kafka_access.is_ready(settings, timeout_s=10):
        raise ServiceStartError(f"kafka at {bootstrap} does not answer the admin principal")
    kafka_access.provision(settings)
