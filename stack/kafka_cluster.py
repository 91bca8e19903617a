"""A Kafka cluster's state as plain data: who leads what, what is under-replicated, who
controls the quorum; and the reads of it from a running cluster (the I/O edge, at the end).

The parsing and the choices are plain functions of kafka-python's admin answers, so they
are tested without a cluster (tests/unit/test_kafka_cluster.py).
"""

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError
from kafka.protocol.admin.topics import ElectionType

from plumbing.settings_stack import StackSettings
from stack import kafka_access, kafka_admin


@dataclass(frozen=True)
class PartitionState:
    """One partition: its leader (-1: none), its replicas and its in-sync replicas."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return set(self.replicas) - set(self.isr) != set() or self.leader < 0

    @property
    def led_by_preferred(self) -> bool:
        """Led by its first replica, where Kafka's leader rebalance puts it back."""
        return bool(self.replicas) and self.leader == self.replicas[0]


def partition_states(described: Iterable[Mapping[str, Any]]) -> list[PartitionState]:
    """``KafkaAdminClient.describe_topics()`` as partition states (topics in error skipped)."""
    return [
        PartitionState(
            topic=topic["name"],
            partition=int(p["partition_index"]),
            leader=int(p["leader_id"]),
            replicas=tuple(p["replica_nodes"]),
            isr=tuple(p["isr_nodes"]),
        )
        for topic in described
        if topic.get("error_code", 0) == 0
        for p in topic["partitions"]
    ]


def busiest_leader(states: Sequence[PartitionState], *, topic_prefix: str) -> int:
    """The broker that leads the most partitions of the topics named ``topic_prefix``...;
    the lowest id among equals, so the choice is repeatable.

    Raises:
        ValueError: no partition of such a topic has a leader.
    """
    led = Counter(s.leader for s in states if s.topic.startswith(topic_prefix) and s.leader >= 0)
    if not led:
        raise ValueError(f"no partition of a topic {topic_prefix!r}... has a leader")
    most = max(led.values())
    return min(broker for broker, count in led.items() if count == most)


def under_replicated(states: Sequence[PartitionState]) -> list[PartitionState]:
    """Partitions with a replica out of sync, or without a leader."""
    return [s for s in states if s.under_replicated]


def off_preferred_leader(states: Sequence[PartitionState]) -> list[PartitionState]:
    """Partitions led by another replica than their preferred (first) one."""
    return [s for s in states if not s.led_by_preferred]


def leaders_to_restore(states: Sequence[PartitionState]) -> list[PartitionState]:
    """Partitions off their preferred leader whose preferred replica is in sync, so that a
    preferred election can move them back now."""
    return [s for s in off_preferred_leader(states) if s.replicas and s.replicas[0] in s.isr]


def quorum_leader(quorum: Mapping[str, Any]) -> int:
    """The active controller in ``KafkaAdminClient.describe_metadata_quorum()``'s answer.

    Raises:
        ValueError: the quorum has no leader now (an election is running).
    """
    for topic in quorum.get("topics", []):
        for partition in topic.get("partitions", []):
            leader = int(partition.get("leader_id", -1))
            if leader >= 0:
                return leader
    raise ValueError("the metadata quorum has no leader")


# --------------------------------------------------------------------------- reads (I/O)


def snapshot(settings: StackSettings, *, timeout_s: float = 10.0) -> list[PartitionState]:
    """Every topic's partitions now, as the admin sees them (internal topics included)."""
    bootstrap, security = kafka_access.admin_endpoint(settings)
    admin = kafka_admin.admin_client(bootstrap, timeout_s, security)
    try:
        return partition_states(admin.describe_topics())
    finally:
        admin.close()


def active_controller(settings: StackSettings, *, timeout_s: float = 10.0) -> int:
    """The node id of the quorum's leader (the active controller)."""
    bootstrap, security = kafka_access.admin_endpoint(settings)
    admin = kafka_admin.admin_client(bootstrap, timeout_s, security)
    try:
        return quorum_leader(admin.describe_metadata_quorum())
    finally:
        admin.close()


def restore_preferred_leaders(
    settings: StackSettings, *, pause_s: float, timeout_s: float = 10.0
) -> int:
    """Move each partition back to its preferred leader, one at a time, ``pause_s`` apart;
    returns how many moved.

    What an operator runs after a broker restart. Kafka's own leader rebalance moves all of
    a broker's partitions at once, to a JVM that may still be cold: every client of them
    stalls together. One at a time, each move costs its own clients a metadata refresh.
    """
    bootstrap, security = kafka_access.admin_endpoint(settings)
    admin = kafka_admin.admin_client(bootstrap, timeout_s, security)
    try:
        todo = leaders_to_restore(partition_states(admin.describe_topics()))
        for state in todo:
            admin.elect_leaders(
                ElectionType.PREFERRED,
                {state.topic: [state.partition]},
                timeout_ms=int(timeout_s * 1000),
                raise_errors=False,  # one that cannot move now stays; the wait names it
            )
            time.sleep(pause_s)
        return len(todo)
    finally:
        admin.close()


def wait_in_sync(
    settings: StackSettings, *, timeout_s: float = 120.0, poll_s: float = 0.5
) -> float:
    """Block until no partition is under-replicated; returns the seconds it took.

    Raises:
        TimeoutError: still under-replicated after ``timeout_s`` (the message names some).
    """
    return _wait_until_none(settings, under_replicated, "under-replicated", timeout_s, poll_s)


def wait_led_by_preferred(
    settings: StackSettings, *, timeout_s: float = 120.0, poll_s: float = 0.5
) -> float:
    """Block until every partition is led by its preferred replica again (after
    ``restore_preferred_leaders``, or the brokers' own leader rebalance); returns the seconds.

    Raises:
        TimeoutError: some still led by another replica after ``timeout_s``.
    """
    return _wait_until_none(
        settings, off_preferred_leader, "off their preferred leader", timeout_s, poll_s
    )


def _wait_until_none(
    settings: StackSettings,
    find: Callable[[Sequence[PartitionState]], list[PartitionState]],
    what: str,
    timeout_s: float,
    poll_s: float,
) -> float:
    start = time.monotonic()
    found: list[PartitionState] = []
    while time.monotonic() - start < timeout_s:
        try:
            found = find(snapshot(settings))
        except (OSError, KafkaError) as error:  # a node is still starting
            found = [PartitionState(str(error)[:100], -1, -1, (), ())]
        if not found:
            return time.monotonic() - start
        time.sleep(poll_s)
    names = ", ".join(f"{s.topic}[{s.partition}]" for s in found[:5])
    raise TimeoutError(f"{len(found)} partitions still {what}: {names}")
