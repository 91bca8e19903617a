"""The sink's batch: closes on size or on age, one insert per topic-partition, stable tokens."""

import pytest
from kafka.structs import TopicPartition

from consumers.batches import Batch, BatchBuffer, DeadLetter, Row, Skipped, dedup_token


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _row(n: int) -> Row:
    return Row("feedback", {"event_id": f"e{n}"})


def test_batch_closes_when_it_holds_max_rows() -> None:
    buffer = BatchBuffer(max_rows=3, max_seconds=60.0, clock=FakeClock())
    buffer.add("t", 0, 0, _row(0))
    buffer.add("t", 0, 1, _row(1))
    assert not buffer.due()

    buffer.add("t", 1, 0, _row(2))

    assert buffer.full and buffer.due()


def test_batch_closes_when_its_first_message_is_max_seconds_old() -> None:
    clock = FakeClock()
    buffer = BatchBuffer(max_rows=10_000, max_seconds=1.0, clock=clock)
    assert buffer.seconds_left() is None and not buffer.due()  # an empty batch never closes
    buffer.add("t", 0, 0, _row(0))
    clock.now += 0.6
    buffer.add("t", 0, 1, _row(1))  # a later message does not restart the clock
    assert buffer.seconds_left() == pytest.approx(0.4)
    assert not buffer.due()

    clock.now += 0.4

    assert buffer.due() and not buffer.full


def test_flush_makes_one_insert_per_topic_partition_and_returns_next_offsets() -> None:
    buffer = BatchBuffer(max_rows=100, max_seconds=1.0, clock=FakeClock())
    buffer.add("a", 0, 10, _row(1))
    buffer.add("a", 1, 4, _row(2))
    buffer.add("a", 0, 11, DeadLetter({"reason": "bad"}))
    buffer.add("a", 0, 12, _row(3))
    buffer.add("b", 0, 7, Skipped("tombstone"))
    writes: list[Batch] = []

    offsets = buffer.flush(writes.append)

    (batch,) = writes
    inserts = {(i.topic, i.partition): i for i in batch.inserts}
    assert set(inserts) == {("a", 0), ("a", 1)}  # b[0] brought no row: no insert
    assert [r["event_id"] for r in inserts["a", 0].rows] == ["e1", "e3"]
    assert (inserts["a", 0].first_offset, inserts["a", 0].last_offset) == (10, 12)
    assert inserts["a", 0].dedup_token == dedup_token("a", 0, 10, 12)
    assert batch.dead_letters == [{"reason": "bad"}] and batch.skipped == ["tombstone"]
    assert batch.first_offsets == {TopicPartition("a", 0): 10, TopicPartition("a", 1): 4,
                                   TopicPartition("b", 0): 7}  # fmt: skip
    assert offsets == {TopicPartition("a", 0): 13, TopicPartition("a", 1): 5,
                       TopicPartition("b", 0): 8}  # fmt: skip
    assert len(buffer) == 0 and buffer.seconds_left() is None


def test_failed_write_clears_the_buffer_and_returns_nothing_to_commit() -> None:
    buffer = BatchBuffer(max_rows=10, max_seconds=1.0, clock=FakeClock())
    buffer.add("t", 0, 1, _row(1))

    def failing(batch: Batch) -> None:
        raise RuntimeError("ClickHouse is down")

    with pytest.raises(RuntimeError):
        buffer.flush(failing)
    assert len(buffer) == 0
    assert buffer.flush(failing) == {}  # nothing left to write


def test_dedup_token_is_deterministic_and_names_topic_partition_and_offsets() -> None:
    token = dedup_token("predict.replies", 3, 100, 199)

    assert token == dedup_token("predict.replies", 3, 100, 199)
    assert len({
        token,
        dedup_token("predict.replies", 4, 100, 199),
        dedup_token("predict.requests.prod", 3, 100, 199),
        dedup_token("predict.replies", 3, 101, 199),
        dedup_token("predict.replies", 3, 100, 198),
    }) == 5  # fmt: skip


def test_the_same_messages_read_again_carry_the_same_token() -> None:
    """A sink restarted from the same committed offset rebuilds the same batch."""

    def tokens() -> list[str]:
        buffer = BatchBuffer(max_rows=3, max_seconds=1.0, clock=FakeClock())
        for offset in (40, 41, 42):
            buffer.add("feedback", 2, offset, _row(offset))
        writes: list[Batch] = []
        buffer.flush(writes.append)
        return [i.dedup_token for i in writes[0].inserts]

    assert tokens() == tokens() == [dedup_token("feedback", 2, 40, 42)]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        BatchBuffer(max_rows=0, max_seconds=1.0)
    with pytest.raises(ValueError, match="max_seconds"):
        BatchBuffer(max_rows=1, max_seconds=0.0)
