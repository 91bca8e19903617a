"""The micro-batch buffer: add buffers, flush writes once, clears always, commits after."""

import pytest
from kafka.structs import TopicPartition

from predictors.batching import Batch, MicroBatch

P0 = TopicPartition("t", 0)
P1 = TopicPartition("t", 1)


def test_flush_writes_everything_in_one_call_and_returns_next_offsets() -> None:
    buffer: MicroBatch[str] = MicroBatch(10)
    buffer.add(P0, 5, "a")
    buffer.add(P1, 9, "b")
    buffer.add(P0, 6, "c")
    writes: list[Batch[str]] = []

    offsets = buffer.flush(writes.append)

    assert len(writes) == 1
    assert writes[0].items == ["a", "b", "c"]
    assert writes[0].first_offsets == {P0: 5, P1: 9}
    assert offsets == {P0: 7, P1: 10}
    assert len(buffer) == 0


def test_empty_buffer_does_not_write() -> None:
    buffer: MicroBatch[str] = MicroBatch(10)
    writes: list[Batch[str]] = []

    assert buffer.flush(writes.append) == {}
    assert writes == []


def test_failed_write_clears_the_buffer_and_commits_nothing() -> None:
    buffer: MicroBatch[str] = MicroBatch(10)
    buffer.add(P0, 1, "a")

    def failing(batch: Batch[str]) -> None:
        raise RuntimeError("broker down")

    with pytest.raises(RuntimeError):
        buffer.flush(failing)
    assert len(buffer) == 0
    writes: list[Batch[str]] = []
    buffer.add(P0, 1, "a")
    assert buffer.flush(writes.append) == {P0: 2}
    assert writes[0].items == ["a"]


def test_buffer_is_full_at_max_rows() -> None:
    buffer: MicroBatch[int] = MicroBatch(2)
    buffer.add(P0, 0, 0)
    assert not buffer.full
    buffer.add(P0, 1, 1)
    assert buffer.full


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatch(0)
