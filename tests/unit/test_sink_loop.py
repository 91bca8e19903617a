"""The sink with stand-in Kafka and ClickHouse: one insert per table, then the commit.

The real loop against real Kafka and chDB is tests/integration/test_sink.py; these
pin down the order of operations, which a real run only shows when it goes wrong.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kafka.structs import TopicPartition

from consumers.metrics import SinkMetrics
from consumers.rows import Coordinates
from consumers.sink import Sink
from consumers.writer import SinkTopics, insert_token
from schemas.registry import TABLES_SQL, load_topics

EXAMPLES = TABLES_SQL.parent.parent / "examples"
TOPICS = {spec.name: spec for spec in load_topics() if spec.table}
FEEDBACK = Path(sorted((EXAMPLES / "feedback" / "valid").glob("*.json"))[0]).read_bytes()
REPLY = (EXAMPLES / "predict.reply" / "valid" / "ok.json").read_bytes()


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int = 1_795_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class Future:
    """A send acknowledged at once."""

    is_done = True

    def get(self, timeout: float | None = None) -> None:
        return None


class World:
    """Stand-ins sharing one journal, so a test can read the order of operations."""

    def __init__(self) -> None:
        self.journal: list[tuple[str, Any]] = []
        self.pending: list[dict[TopicPartition, list[Record]]] = []
        self.fail_inserts = False
        #: Rows ClickHouse holds: (topic, partition, offset).
        self.stored: set[tuple[str, int, int]] = set()
        self.listener: Any = None

    # the consumer
    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self.journal.append(("subscribe", sorted(topics)))
        self.listener = listener

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        return self.pending.pop(0) if self.pending else {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.journal.append(("commit", {tp: o.offset for tp, o in offsets.items()}))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.journal.append(("seek", (tp, offset)))

    def assignment(self) -> set[TopicPartition]:
        return set()

    # the producer
    def send(self, topic: str, value: Any = None, **_kwargs: Any) -> Future:
        self.journal.append(("send", (topic, json.loads(value))))
        return Future()

    def flush(self, timeout: float | None = None) -> None:
        pass

    # ClickHouse
    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        if self.fail_inserts:
            raise RuntimeError("ClickHouse is down")
        self.journal.append(("insert", (table, len(df), dedup_token)))
        self.stored.update(zip(df["_topic"], df["_partition"], df["_offset"], strict=True))

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        self.journal.append(("query", sql))
        rows = [
            row
            for row in sorted(self.stored)
            for n in range(len(params or {}) // 3)
            if params
            and (row[0], row[1]) == (params[f"t{n}"], params[f"p{n}"])
            and row[2] >= params[f"o{n}"]
        ]
        return pd.DataFrame(rows, columns=["_topic", "_partition", "_offset"])


def _sink(world: World, metrics: SinkMetrics, *, rows: int = 100) -> Sink:
    return Sink(
        consumer=world,  # type: ignore[arg-type]
        producer=world,  # type: ignore[arg-type]
        clickhouse=world,  # type: ignore[arg-type]
        database="db",
        topics=SinkTopics(TOPICS, "deadletter"),
        metrics=metrics,
        batch_rows=rows,
        batch_seconds=1.0,
        name="sink-test",
        clock=lambda: 0.0,
    )


def _sample(metrics: SinkMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"splitstream_sink_{name}", labels)


def _feedback(partition: int, offset: int) -> Record:
    return Record("feedback", partition, offset, FEEDBACK)


def _reply(partition: int, offset: int) -> Record:
    return Record("predict.replies", partition, offset, REPLY)


def _at(partition: int, offset: int) -> Coordinates:
    return Coordinates("feedback", partition, offset, -1)


def _kinds(world: World) -> list[str]:
    return [kind for kind, _ in world.journal]


def test_a_batch_is_one_insert_per_table_with_its_token_then_committed() -> None:
    world, metrics = World(), SinkMetrics()
    sink = _sink(world, metrics, rows=4)
    world.pending.append(
        {
            TopicPartition("feedback", 0): [_feedback(0, 5), _feedback(0, 6)],
            TopicPartition("feedback", 1): [_feedback(1, 9)],
            TopicPartition("predict.replies", 4): [_reply(4, 30)],
        }
    )

    sink.step()  # 4 messages: the batch is full and written

    inserts = [what for kind, what in world.journal if kind == "insert"]
    assert sorted(inserts) == [
        ("feedback", 3, insert_token("feedback", [_at(0, 5), _at(0, 6), _at(1, 9)])),
        ("replies", 1, insert_token("replies", [Coordinates("predict.replies", 4, 30, -1)])),
    ]
    assert _kinds(world) == ["insert", "insert", "commit"]
    assert world.journal[-1][1] == {
        TopicPartition("feedback", 0): 7,
        TopicPartition("feedback", 1): 10,
        TopicPartition("predict.replies", 4): 31,
    }
    assert _sample(metrics, "rows_written_total", table="feedback") == 3


def test_a_failed_insert_commits_nothing_and_rewinds_to_the_batch_start() -> None:
    world, metrics = World(), SinkMetrics()
    sink = _sink(world, metrics, rows=2)
    world.fail_inserts = True
    world.pending.append({TopicPartition("feedback", 0): [_feedback(0, 5), _feedback(0, 6)]})

    sink.step()

    assert ("seek", (TopicPartition("feedback", 0), 5)) in world.journal
    assert "commit" not in _kinds(world)
    assert _sample(metrics, "write_failures_total") == 1

    # When the same messages are read again and ClickHouse is back
    world.fail_inserts = False
    world.pending.append({TopicPartition("feedback", 0): [_feedback(0, 5), _feedback(0, 6)]})
    sink.step()

    assert _kinds(world)[-3:] == ["query", "insert", "commit"]  # a replay: what is stored?
    assert world.journal[-2][1] == ("feedback", 2, insert_token("feedback", [_at(0, 5), _at(0, 6)]))


def test_a_replayed_batch_skips_the_rows_a_killed_sink_stored_without_committing() -> None:
    """A new sink reads from the last commit a batch that differs from the one stored."""
    world, metrics = World(), SinkMetrics()
    # Given a sink that stored feedback[0]@5..7 and replies[4]@30 in one batch, then died
    world.stored = {("feedback", 0, 5), ("feedback", 0, 6), ("feedback", 0, 7),
                    ("predict.replies", 4, 30)}  # fmt: skip
    sink = _sink(world, metrics, rows=3)
    sink.subscribe()
    world.listener.on_partitions_assigned(
        {TopicPartition("feedback", 0), TopicPartition("predict.replies", 4)}
    )

    # When its successor's first batch holds only part of that (and something new)
    world.pending.append(
        {
            TopicPartition("feedback", 0): [_feedback(0, 5), _feedback(0, 6)],
            TopicPartition("predict.replies", 4): [_reply(4, 31)],
        }
    )
    sink.step()
    # and its second batch the rest
    world.pending.append({TopicPartition("feedback", 0): [_feedback(0, 7), _feedback(0, 8)],
                          TopicPartition("predict.replies", 4): [_reply(4, 32)]})  # fmt: skip
    sink.step()

    # Then only what was not stored is inserted, and everything is committed
    inserts = [what for kind, what in world.journal if kind == "insert"]
    assert inserts == [
        ("replies", 1, insert_token("replies", [Coordinates("predict.replies", 4, 31, -1)])),
        ("feedback", 1, insert_token("feedback", [_at(0, 8)])),
        ("replies", 1, insert_token("replies", [Coordinates("predict.replies", 4, 32, -1)])),
    ]
    assert [kind for kind in _kinds(world) if kind == "query"] == ["query", "query"]  # once each
    assert world.journal[-1][1] == {
        TopicPartition("feedback", 0): 9,
        TopicPartition("predict.replies", 4): 33,
    }


def test_a_poison_message_is_dead_lettered_and_committed_with_the_batch() -> None:
    world, metrics = World(), SinkMetrics()
    sink = _sink(world, metrics, rows=2)
    world.pending.append(
        {TopicPartition("feedback", 0): [Record("feedback", 0, 1, b"{nope"), _feedback(0, 2)]}
    )

    sink.step()

    sends = [what for kind, what in world.journal if kind == "send"]
    assert [topic for topic, _ in sends] == ["deadletter"]
    record = sends[0][1]
    assert (record["source_topic"], record["source_offset"], record["error_type"]) == (
        "feedback",
        1,
        "decode",
    )
    assert _kinds(world) == ["send", "insert", "commit"]
    assert world.journal[-1][1] == {TopicPartition("feedback", 0): 3}
    assert _sample(metrics, "dead_letters_total", topic="feedback", error_type="decode") == 1


def test_stopping_writes_the_batch_in_hand() -> None:
    world, metrics = World(), SinkMetrics()
    sink = _sink(world, metrics, rows=100)
    world.pending.append({TopicPartition("feedback", 0): [_feedback(0, 0)]})
    sink.step()
    assert "insert" not in _kinds(world)  # neither full nor old: it waits

    assert sink.flush()

    assert _kinds(world) == ["insert", "commit"]


@pytest.mark.parametrize("value", [json.dumps({"event_type": "feedback"}).encode(), b"\x00"])
def test_a_malformed_dead_letter_is_committed_without_a_new_dead_letter(value: bytes) -> None:
    world, metrics = World(), SinkMetrics()
    sink = _sink(world, metrics, rows=1)
    world.pending.append({TopicPartition("deadletter", 0): [Record("deadletter", 0, 4, value)]})

    sink.step()

    assert _kinds(world) == ["commit"]
    assert _sample(metrics, "skipped_total", reason="malformed_dead_letter") == 1
