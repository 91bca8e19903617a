"""The engine's batch: closes on size or on age, one write, cleared always, offsets after."""

import pytest
from kafka.structs import TopicPartition

from plumbing.batch_buffer import Batch, BatchBuffer

P0 = TopicPartition("t", 0)
P1 = TopicPartition("t", 1)
Q0 = TopicPartition("u", 0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _buffer(max_rows: int = 100, max_seconds: float = 1.0) -> BatchBuffer[str]:
    return BatchBuffer(max_rows=max_rows, max_seconds=max_seconds, clock=FakeClock())


def test_flush_writes_everything_in_one_call_and_returns_next_offsets() -> None:
    buffer = _buffer()
    buffer.add(P0, 5, "a")
    buffer.add(P1, 9, "b")
    buffer.add(P0, 6, "c")
    buffer.add(Q0, 2, "d")
    writes: list[Batch[str]] = []

    offsets = buffer.flush(writes.append)

    (batch,) = writes
    assert batch.items == ["a", "b", "c", "d"]
    assert batch.first_offsets == {P0: 5, P1: 9, Q0: 2}
    assert offsets == batch.next_offsets == {P0: 7, P1: 10, Q0: 3}
    assert len(buffer) == 0 and buffer.seconds_left() is None


def test_an_empty_buffer_does_not_write() -> None:
    writes: list[Batch[str]] = []

    assert _buffer().flush(writes.append) == {}
    assert writes == []


def test_a_failed_write_clears_the_buffer_and_returns_nothing_to_commit() -> None:
    buffer = _buffer()
    buffer.add(P0, 1, "a")

    def failing(batch: Batch[str]) -> None:
        raise RuntimeError("ClickHouse is down")

    with pytest.raises(RuntimeError):
        buffer.flush(failing)
    assert len(buffer) == 0
    assert buffer.flush(failing) == {}  # nothing left to write


def test_the_batch_is_due_when_it_holds_max_rows() -> None:
    buffer = _buffer(max_rows=3, max_seconds=60.0)
    buffer.add(P0, 0, "a")
    buffer.add(P0, 1, "b")
    assert not buffer.due() and buffer.room == 1

    buffer.add(P1, 0, "c")

    assert buffer.full and buffer.due()
    assert buffer.room == 1  # a poll always asks for at least one record


def test_the_batch_is_due_when_its_first_item_is_max_seconds_old() -> None:
    clock = FakeClock()
    buffer: BatchBuffer[str] = BatchBuffer(max_rows=10_000, max_seconds=1.0, clock=clock)
    assert buffer.seconds_left() is None and not buffer.due()  # an empty batch never closes
    buffer.add(P0, 0, "a")
    clock.now += 0.6
    buffer.add(P0, 1, "b")  # a later item does not restart the clock
    assert buffer.seconds_left() == pytest.approx(0.4)
    assert not buffer.due()

    clock.now += 0.4

    assert buffer.due() and not buffer.full


def test_zero_seconds_makes_a_batch_due_as_soon_as_it_holds_anything() -> None:
    buffer = _buffer(max_seconds=0.0)
    assert not buffer.due()

    buffer.add(P0, 0, "a")

    assert buffer.due()


def test_replayed_partitions_are_marked_only_when_the_batch_holds_them() -> None:
    buffer = _buffer()
    buffer.add(P0, 3, "a")
    writes: list[Batch[str]] = []

    buffer.flush(writes.append, replayed=frozenset({P0, P1}))

    assert writes[0].replayed == frozenset({P0})


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        BatchBuffer(max_rows=0, max_seconds=1.0)
    with pytest.raises(ValueError, match="max_seconds"):
        BatchBuffer(max_rows=1, max_seconds=-1.0)
