"""The cluster's state read from admin answers: leaders, under-replicated partitions, quorum."""

from typing import Any

import pytest

from stack.kafka_cluster import (
    PartitionState,
    busiest_leader,
    leaders_to_restore,
    off_preferred_leader,
    partition_states,
    quorum_leader,
    under_replicated,
)


def _partition(index: int, leader: int, replicas: list[int], isr: list[int]) -> dict[str, Any]:
    return {
        "error_code": 0,
        "partition_index": index,
        "leader_id": leader,
        "leader_epoch": 0,
        "replica_nodes": replicas,
        "isr_nodes": isr,
        "offline_replicas": [],
    }


def _topic(name: str, *partitions: dict[str, Any], error_code: int = 0) -> dict[str, Any]:
    return {"error_code": error_code, "name": name, "partitions": list(partitions)}


def test_partition_states_read_describe_topics_and_skip_topics_in_error() -> None:
    described = [
        _topic("p.replies", _partition(0, 3, [3, 1, 2], [3, 1, 2])),
        _topic("p.gone", _partition(0, 1, [1], [1]), error_code=3),
    ]
    assert partition_states(described) == [PartitionState("p.replies", 0, 3, (3, 1, 2), (3, 1, 2))]


def test_busiest_leader_counts_only_the_prefixed_topics() -> None:
    states = [
        PartitionState("p.a", 0, 1, (1, 2, 3), (1, 2, 3)),
        PartitionState("p.a", 1, 2, (2, 3, 1), (2, 3, 1)),
        PartitionState("p.b", 0, 2, (2, 3, 1), (2, 3, 1)),
        PartitionState("__consumer_offsets", 0, 3, (3, 1, 2), (3, 1, 2)),
        PartitionState("other.x", 0, 3, (3, 1, 2), (3, 1, 2)),
        PartitionState("other.x", 1, 3, (3, 1, 2), (3, 1, 2)),
    ]
    assert busiest_leader(states, topic_prefix="p.") == 2


def test_busiest_leader_breaks_a_tie_by_the_lowest_id_and_ignores_leaderless() -> None:
    states = [
        PartitionState("p.a", 0, 3, (3, 1), (3, 1)),
        PartitionState("p.a", 1, 2, (2, 3), (2, 3)),
        PartitionState("p.a", 2, -1, (1, 2), ()),
    ]
    assert busiest_leader(states, topic_prefix="p.") == 2


def test_busiest_leader_refuses_when_nothing_has_a_leader() -> None:
    with pytest.raises(ValueError, match="no partition"):
        busiest_leader([PartitionState("p.a", 0, -1, (1,), ())], topic_prefix="p.")


def test_under_replicated_lists_a_missing_isr_member_or_leader() -> None:
    whole = PartitionState("t", 0, 1, (1, 2, 3), (1, 3, 2))
    shrunk = PartitionState("t", 1, 2, (1, 2, 3), (2, 3))
    leaderless = PartitionState("t", 2, -1, (1,), (1,))
    assert under_replicated([whole, shrunk, leaderless]) == [shrunk, leaderless]


def test_off_preferred_leader_lists_partitions_not_led_by_their_first_replica() -> None:
    preferred = PartitionState("t", 0, 1, (1, 2, 3), (1, 2, 3))
    moved = PartitionState("t", 1, 3, (2, 3, 1), (2, 3, 1))
    leaderless = PartitionState("t", 2, -1, (1,), ())
    assert off_preferred_leader([preferred, moved, leaderless]) == [moved, leaderless]


def test_leaders_to_restore_are_those_whose_preferred_replica_is_in_sync() -> None:
    preferred = PartitionState("t", 0, 1, (1, 2, 3), (1, 2, 3))
    movable = PartitionState("t", 1, 3, (2, 3, 1), (3, 1, 2))
    catching_up = PartitionState("t", 2, 3, (2, 3, 1), (3, 1))
    assert leaders_to_restore([preferred, movable, catching_up]) == [movable]


def test_quorum_leader_reads_the_metadata_partition_leader() -> None:
    quorum = {"topics": [{"topic_name": "__cluster_metadata", "partitions": [{"leader_id": 2}]}]}
    assert quorum_leader(quorum) == 2
    with pytest.raises(ValueError, match="no leader"):
        quorum_leader({"topics": [{"partitions": [{"leader_id": -1}]}]})
