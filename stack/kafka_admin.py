"""Talking to a running Kafka as its administrator: readiness, topics, users and ACLs.

Building blocks without settings: each function takes the bootstrap servers and the SASL
part of the client configuration (``plumbing.kafka_security.client_security`` of the admin
principal). ``stack.kafka_access`` calls them with the stack's settings.
"""

import socket
import time
from collections.abc import Mapping
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialUpsertion,
)
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    for_code,
)

from plumbing import kafka_socket_fix  # noqa: F401 (closes the socket of a failed connect)
from plumbing.kafka_acls import Grant


def port_open(bootstrap: str, timeout_s: float) -> bool:
    """Cheap TCP probe of each server in turn, so polling dead ports does not build (and leak)
    clients. True when any accepts: a cluster with one node down still answers."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection(
                (host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s
            ):
                return True
        except OSError:
            continue
    return False


class _ClosingAdmin(KafkaAdminClient):  # type: ignore[misc]  # kafka-python is untyped: its classes are Any
    """KafkaAdminClient that stops its IO thread when bootstrapping fails.

    kafka-python 3.0.12 starts a daemon IO thread before it bootstraps and leaves it
    running when bootstrap raises, so every failed ``is_ready`` poll against a port
    that accepts but does not answer (a starting broker) would leak a thread.
    """

    def __init__(self, **configs: object) -> None:
        try:
            super().__init__(**configs)
        except BaseException:
            if hasattr(self, "_net"):
                self._closed = False  # close() is a no-op until bootstrap sets this
                self.close()
            raise


def admin_client(bootstrap: str, timeout_s: float, security: Mapping[str, Any]) -> KafkaAdminClient:
    """An admin client whose bootstrap and requests both give up after ``timeout_s``.

    ``security`` is the SASL part of its configuration (``plumbing.kafka_security``).
    """
    timeout_ms = max(int(timeout_s * 1000), 1)
    return _ClosingAdmin(
        bootstrap_servers=bootstrap,
        client_id="splitstream-kafka-node",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=timeout_ms,
        **security,
    )


def is_ready(bootstrap: str, *, security: Mapping[str, Any], timeout_s: float = 2.0) -> bool:
    """True when the broker answers a metadata request listing at least one broker.

    An open port alone is not enough: the socket accepts before the broker has
    caught up with the metadata log and registered itself.
    """
    return bool(_listed_brokers(bootstrap, security, timeout_s))


def node_is_ready(
    bootstrap: str, node_id: int, *, security: Mapping[str, Any], timeout_s: float = 2.0
) -> bool:
    """True when node ``node_id`` answers at ``bootstrap`` and the cluster lists it as a broker.

    A broker is listed only once the controller has unfenced it: it has caught up with
    the metadata log and may lead partitions.
    """
    brokers = _listed_brokers(bootstrap, security, timeout_s)
    return any(b.get("broker_id") == node_id for b in brokers)


def _listed_brokers(
    bootstrap: str, security: Mapping[str, Any], timeout_s: float
) -> list[dict[str, Any]]:
    """The brokers the cluster lists, asked at ``bootstrap``; none when it does not answer."""
    if not port_open(bootstrap, timeout_s):
        return []
    try:
        admin = admin_client(bootstrap, timeout_s, security)
    except (KafkaError, OSError):
        return []
    try:
        return list(admin.describe_cluster().get("brokers") or [])
    except (KafkaError, OSError):
        return []
    finally:
        admin.close()


def _create_missing(admin: KafkaAdminClient, topics: dict[str, int], timeout_ms: int) -> None:
    """Create every topic; an existing one is fine (its size is checked separately)."""
    request = {name: {"num_partitions": count} for name, count in topics.items()}
    result = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
    for topic in result["topics"]:
        code = topic["error_code"]
        if code not in (0, TopicAlreadyExistsError.errno):
            error = for_code(code)
            raise error(f"creating topic {topic['name']}: {topic.get('error_message')}")


def _partition_counts(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Partition count of each named topic the broker knows without error."""
    described = admin.describe_topics(names)
    return {t["name"]: len(t["partitions"]) for t in described if t.get("error_code", 0) == 0}


def _grow_partitions(admin: KafkaAdminClient, topics: dict[str, int], timeout_ms: int) -> None:
    """Add partitions to topics that exist with fewer than wanted (never shrinks)."""
    current = _partition_counts(admin, list(topics))
    grow = {name: want for name, want in topics.items() if current.get(name, want) < want}
    if grow:
        admin.create_partitions(grow, timeout_ms=timeout_ms)


def _wait_sized(admin: KafkaAdminClient, topics: dict[str, int], deadline: float) -> None:
    """Block until metadata shows every topic at its size with a leader per partition.

    Creation and growth are acknowledged before the broker's metadata cache shows
    them, so a producer started right after could still see the old layout.
    """
    while True:
        current = _partition_counts(admin, list(topics))
        if all(current.get(name, 0) >= want for name, want in topics.items()):
            break
        if time.monotonic() >= deadline:
            raise KafkaTimeoutError(f"topics not at requested size: {current} < {topics}")
        time.sleep(0.1)
    admin.wait_for_topics(list(topics), timeout_ms=_ms_until(deadline))


def ensure_topics(
    bootstrap: str,
    topics: dict[str, int],
    *,
    security: Mapping[str, Any],
    timeout_s: float = 30,
) -> None:
    """Make each topic exist with at least the given partition count; idempotent.

    Call it once ``is_ready`` is true: it does not wait for a broker to come up.

    Replication factor is left to the broker (``default.replication.factor``), so
    this works unchanged against a multi-broker cluster. Returns only once every
    partition has a leader, so producers started next do not race topic creation.
    """
    if not topics:
        return
    if not port_open(bootstrap, timeout_s):
        # Fail fast and clearly; kafka-python would retry until the timeout and
        # leave one unclosed socket per refused connect (ResourceWarning).
        raise KafkaConnectionError(f"no broker listening at {bootstrap}")
    deadline = time.monotonic() + timeout_s
    admin = admin_client(bootstrap, timeout_s, security)
    try:
        _create_missing(admin, topics, _ms_until(deadline))
        _grow_partitions(admin, topics, _ms_until(deadline))
        _wait_sized(admin, topics, deadline)
    finally:
        admin.close()


def _ms_until(deadline: float) -> int:
    """Milliseconds left before ``deadline`` (monotonic), at least 1."""
    return max(int((deadline - time.monotonic()) * 1000), 1)


def ensure_scram_users(
    bootstrap: str,
    users: Mapping[str, str],
    *,
    mechanism: str,
    security: Mapping[str, Any],
    timeout_s: float = 30,
) -> None:
    """Create or update the SCRAM credential of each user (name -> password); idempotent.

    Raises:
        KafkaError: the broker refused one (the message names the users and why).
    """
    if not users:
        return
    upserts = [UserScramCredentialUpsertion(u, mechanism, p) for u, p in users.items()]
    admin = admin_client(bootstrap, timeout_s, security)
    try:
        result = admin.alter_user_scram_credentials(upserts)
    finally:
        admin.close()
    failed = {user: error for user, error in result.items() if error}
    if failed:
        raise KafkaError(f"SCRAM credentials refused: {failed}")


def to_acl(grant: Grant, principal: str) -> ACL:
    """The kafka-python ACL of one grant: allow ``principal`` from any host."""
    kind = ResourceType.TOPIC if grant.resource == "topic" else ResourceType.GROUP
    pattern = ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL
    return ACL(
        principal=principal,
        host="*",
        operation=ACLOperation[grant.operation],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(kind, grant.name, pattern),
    )


_EVERY_ACL = ACLFilter(
    principal=None,
    host=None,
    operation=ACLOperation.ANY,
    permission_type=ACLPermissionType.ANY,
    resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY),
)


def ensure_acls(
    bootstrap: str,
    acls: list[ACL],
    *,
    security: Mapping[str, Any],
    timeout_s: float = 30,
) -> int:
    """Create the ACLs the broker lacks; returns once it enforces all of them.

    Only adds: an ACL that is no longer wanted stays until deleted by hand.

    Returns:
        How many were created.

    Raises:
        KafkaError: the broker refused one.
        KafkaTimeoutError: the broker did not show them all within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    admin = admin_client(bootstrap, timeout_s, security)
    try:
        present, _ = admin.describe_acls(_EVERY_ACL)
        missing = [acl for acl in dict.fromkeys(acls) if acl not in set(present)]
        if missing:
            result = admin.create_acls(missing)
            if result["failed"]:
                raise KafkaError(f"ACLs refused: {result['failed']}")
        while not _shown_by_every_broker(admin, set(acls)):
            if time.monotonic() >= deadline:
                raise KafkaTimeoutError("a broker does not show the ACLs the cluster accepted")
            time.sleep(0.1)
        return len(missing)
    finally:
        admin.close()


def _shown_by_every_broker(admin: KafkaAdminClient, acls: set[ACL]) -> bool:
    """True once each broker enforces ``acls``.

    Each broker applies the metadata log on its own: one that has not yet would refuse a
    client (an idempotent producer's InitProducerId) that another one lets in. kafka-python
    asks the least-loaded broker, so each is asked in turn through its connection manager.
    """
    manager = admin._manager
    least_loaded = manager.least_loaded_node
    try:
        for node_id in [broker.node_id for broker in manager.cluster.brokers()]:
            manager.least_loaded_node = lambda node_id=node_id: node_id
            shown, _ = admin.describe_acls(_EVERY_ACL)  # an error code raises
            if not acls <= set(shown):
                return False
    finally:
        manager.least_loaded_node = least_loaded
    return True
