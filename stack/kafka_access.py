"""Who may use Kafka, set up by the stack's admin: SCRAM users, topics and the ACL table.

On the local broker the admin works through the internal listener (SASL/PLAIN, the one user
the broker's own configuration lists), so it needs nothing that the metadata log must hold
first: that is how the SCRAM users come to exist. On an existing cluster it logs in like any
client, as the admin principal, when this process holds that principal's password.
"""

import logging
from collections.abc import Callable
from typing import Any

from kafka.admin import ACL

from plumbing.kafka_acls import acl_table
from plumbing.kafka_security import client_security
from plumbing.settings import KAFKA_ROLES, KafkaRole
from plumbing.settings_stack import StackSettings
from stack import kafka_admin
from stack.kafka_properties import INTERNAL_MECHANISM

log = logging.getLogger(__name__)

#: A readiness check of the supervisor's: True once the service answers.
Probe = Callable[[], bool]


def principal(settings: StackSettings, role: KafkaRole) -> str:
    """``User:<name>`` of a role, as ACLs and the broker's logs name it."""
    return f"User:{settings.kafka_user(role)}"


def acls(settings: StackSettings) -> list[ACL]:
    """The ACL table of these settings' names, as kafka-python ACLs."""
    return [kafka_admin.to_acl(g, principal(settings, g.role)) for g in acl_table(settings)]


def admin_endpoint(settings: StackSettings) -> tuple[str, dict[str, Any]]:
    """Where the admin reaches the broker, and the client settings it logs in with."""
    admin = settings.as_kafka_role("admin")
    if settings.local_kafka:
        internal = admin.model_copy(
            update={
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": INTERNAL_MECHANISM,
            }
        )
        bootstrap = ",".join(
            f"{settings.stack_host}:{port}" for port in settings.kafka_node_ports("internal")
        )
        # PLAIN to the stack's own broker, on its own address (loopback by default):
        # kafka-python's warning about it would repeat at every readiness poll.
        logging.getLogger("kafka.net.sasl.plain").setLevel(logging.ERROR)
        return bootstrap, client_security(internal, "kafka-python")
    return settings.kafka_bootstrap, client_security(admin, "kafka-python")


def ensure_users(settings: StackSettings) -> list[str]:
    """Create or update the SCRAM user of every role whose password this process holds.

    Returns:
        The user names.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return []
    users = {
        settings.kafka_user(role): password.get_secret_value()
        for role in KAFKA_ROLES
        if (password := settings.kafka_password(role)) is not None
    }
    bootstrap, security = admin_endpoint(settings)
    kafka_admin.ensure_scram_users(
        bootstrap, users, mechanism=_scram_mechanism(settings), security=security
    )
    return sorted(users)


def _scram_mechanism(settings: StackSettings) -> str:
    """The SCRAM variant clients use; PLAIN clients (an existing cluster's) still get 512."""
    mechanism = settings.kafka_sasl_mechanism
    return mechanism if mechanism.startswith("SCRAM-") else "SCRAM-SHA-512"


def provision(settings: StackSettings, *, timeout_s: float = 30) -> None:
    """Make the topics of these settings exist and their ACL table hold; idempotent.

    The stack calls it at `stack up`; tests call it for their own topic prefix.
    """
    bootstrap, security = admin_endpoint(settings)
    topics = {t.name: t.partitions for t in settings.topics()}
    kafka_admin.ensure_topics(bootstrap, topics, security=security, timeout_s=timeout_s)
    if settings.kafka_security_protocol == "PLAINTEXT":
        return
    created = kafka_admin.ensure_acls(bootstrap, acls(settings), security=security)
    if created:
        log.info("created %d Kafka ACLs for prefix %r", created, settings.topic_prefix)


def ensure_topics(
    settings: StackSettings, topics: dict[str, int], *, timeout_s: float = 30
) -> None:
    """Topics outside the ACL table (a benchmark's, a test's), created by the admin."""
    bootstrap, security = admin_endpoint(settings)
    kafka_admin.ensure_topics(bootstrap, topics, security=security, timeout_s=timeout_s)


def is_ready(settings: StackSettings, timeout_s: float = 2.0) -> bool:
    """True when the broker answers the admin."""
    bootstrap, security = admin_endpoint(settings)
    return kafka_admin.is_ready(bootstrap, security=security, timeout_s=timeout_s)


def node_is_ready(
    settings: StackSettings, address: str, node_id: int, timeout_s: float = 2.0
) -> bool:
    """True when the local node at ``address`` (its internal listener) is a live broker."""
    _, security = admin_endpoint(settings)
    return kafka_admin.node_is_ready(address, node_id, security=security, timeout_s=timeout_s)
