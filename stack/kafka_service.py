"""The stack's own Kafka broker as a supervised process, and the check of an existing one.

``stack.local`` starts it with the other backing services; ``stack.kafka_node`` renders its
files and command lines, and ``stack.kafka_access`` sets up its users, topics and ACLs.
"""

import logging
import subprocess

from plumbing.settings import Settings
from stack import kafka_access, kafka_admin, kafka_node, state_dirs
from stack.errors import ServiceStartError
from stack.paths import StackPaths
from stack.supervisor import ServiceProcess

log = logging.getLogger(__name__)


def write_config(settings: Settings) -> None:
    """server.properties, mode 600: it holds the admin's password (JAAS lines)."""
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
    paths = StackPaths(settings.state_dir)
    properties = paths.kafka_dir / "server.properties"
    state_dirs.make_private(properties.parent)
    properties.touch(mode=0o600)
    properties.chmod(0o600)
    properties.write_text(
        kafka_node.render_server_properties(
            data_dir=paths.kafka_dir / "data",
            listeners=kafka_node.NodeListeners(
                host=settings.stack_host,
                client_port=settings.kafka_port,
                internal_port=settings.kafka_internal_port,
                controller_port=settings.kafka_controller_port,
            ),
            auth=kafka_node.BrokerAuth(
                admin_user=settings.kafka_user("admin"),
                admin_password=admin_password.get_secret_value(),
                client_mechanism=settings.kafka_sasl_mechanism,
            ),
        )
    )


def process(settings: Settings) -> ServiceProcess:
    paths = StackPaths(settings.state_dir)
    properties = paths.kafka_dir / "server.properties"
    lib_dir = settings.lib_dir / "kafka"
    return ServiceProcess(
        name="kafka",
        command=kafka_node.server_command(
            lib_dir=lib_dir,
            properties_file=properties,
            log4j_config=kafka_node.LOG4J_CONFIG,
            heap_mb=settings.kafka_heap_mb,
        ),
        ports=[settings.kafka_port, settings.kafka_controller_port, settings.kafka_internal_port],
        log_file=paths.log_dir / "kafka.log",
        run_dir=paths.run_dir,
        is_ready=lambda: kafka_access.is_ready(settings),
        start_timeout_s=settings.kafka_start_timeout_s,
    )


def format_storage(settings: Settings, process: ServiceProcess) -> None:
    """Format the KRaft storage on first start only; later starts keep the data."""
    paths = StackPaths(settings.state_dir)
    if not kafka_node.needs_format(paths.kafka_dir / "data"):
        return
    command = kafka_node.format_command(
        lib_dir=settings.lib_dir / "kafka",
        properties_file=paths.kafka_dir / "server.properties",
        cluster_id=kafka_node.new_cluster_id(),
    )
    state_dirs.make_private(process.log_file.parent)
    with process.log_file.open("ab") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise ServiceStartError(f"kafka: storage format failed; see {process.log_file}")


def check_external(settings: Settings) -> None:
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
