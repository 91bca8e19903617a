"""The batching engine with stand-in Kafka: write first, commit after, rewind on failure.

The real engine against real Kafka is exercised by every service's integration tests
(tests/integration/test_sink.py, test_poison.py, test_predictor_*.py, test_batch_scoring.py);
these pin down the order of operations, which a real run only shows when it goes wrong.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from plumbing.batch_buffer import Batch
from plumbing.batch_writer import Accepted
from plumbing.consume_loop import BatchingConsumer
from plumbing.dead_letters import Disposal
from plumbing.errors import EmptyMessageError, NotJsonError

P0 = TopicPartition("t", 0)
P1 = TopicPartition("t", 1)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    timestamp: int = 1_795_000_000_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def _records(tp: TopicPartition, *offsets: int, value: bytes | None = b"ok") -> list[Record]:
    return [Record(tp.topic, tp.partition, o, value) for o in offsets]


class Future:
    """A send's future; done at once unless the test holds it (``is_done=False``)."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.is_done = True

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class World:
    """Consumer, producer and writer stand-ins sharing one journal (order of operations)."""

    name = "test-consumer"

    def __init__(self) -> None:
        self.journal: list[tuple[str, Any]] = []
        self.pending: list[dict[TopicPartition, list[Record]]] = []
        self.polls: list[tuple[int, int | None]] = []
        self.listener: Any = None
        self.fail_writes = False
        self.fail_sends = False
        #: Sends whose acks are held back (a partition's leader moving) until ``flush``.
        self.hold_acks = False
        self.held: list[Future] = []
        self.fail_decode = False
        self.commit_error: Exception | None = None
        self.written: list[Batch[Accepted[str]]] = []
        # metrics
        self.disposals: list[Disposal] = []
        self.failures = 0
        self.batches: list[int] = []

    # the consumer
    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.polls.append((timeout_ms, max_records))
        return self.pending.pop(0) if self.pending else {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.journal.append(("commit", {tp: o.offset for tp, o in offsets.items()}))

    def commit_async(self, offsets: dict[TopicPartition, Any], callback: Any) -> None:
        self.journal.append(("commit_async", {tp: o.offset for tp, o in offsets.items()}))
        callback(offsets, self.commit_error)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.journal.append(("seek", (tp, offset)))

    # the producer
    def send(self, topic: str, value: Any = None, **_kwargs: Any) -> Future:
        self.journal.append(("send", (topic, json.loads(value))))
        return Future(RuntimeError("broker refused") if self.fail_sends else None)

    def flush(self, timeout: float | None = None) -> None:
        self.journal.append(("flush", len(self.held)))
        for future in self.held:
            future.is_done = True
        self.held = []

    # the writer
    def decode(self, records: list[Record]) -> list[Any]:
        if self.fail_decode:
            raise KeyError("a bug")
        return [
            (EmptyMessageError("no value") if r.value is None else NotJsonError("not JSON: x"))
            if r.value != b"ok"
            else f"{r.topic}[{r.partition}]@{r.offset}"
            for r in records
        ]

    def write(self, batch: Batch[Accepted[str]]) -> list[Any]:
        if self.fail_writes:
            raise RuntimeError("ClickHouse is down")
        self.written.append(batch)
        self.journal.append(("write", [a.item for a in batch.items]))
        future = Future(RuntimeError("not acknowledged") if self.fail_sends else None)
        if self.hold_acks:
            future.is_done = False
            self.held.append(future)
        return [future]

    # the metrics
    def disposed(self, disposal: Disposal) -> None:
        self.disposals.append(disposal)

    def write_failed(self) -> None:
        self.failures += 1

    def written_(self, messages: int) -> None:
        self.batches.append(messages)


class Metrics:
    def __init__(self, world: World) -> None:
        self.world = world

    def disposed(self, disposal: Disposal) -> None:
        self.world.disposed(disposal)

    def write_failed(self) -> None:
        self.world.write_failed()

    def written(self, messages: int) -> None:
        self.world.written_(messages)


def _engine(
    world: World,
    *,
    rows: int = 100,
    seconds: float = 0.0,
    commit_every_s: float = 0.0,
    max_unacked: int = 0,
    clock: Callable[[], float] = lambda: 0.0,
) -> BatchingConsumer[str]:
    engine: BatchingConsumer[str] = BatchingConsumer(
        consumer=world,  # type: ignore[arg-type]
        producer=world,  # type: ignore[arg-type]
        writer=world,
        deadletter_topic="deadletter",
        metrics=Metrics(world),
        max_rows=rows,
        max_seconds=seconds,
        commit_every_s=commit_every_s,
        max_unacked=max_unacked,
        clock=clock,
    )
    engine.subscribe(["t"])
    return engine


def _kinds(world: World) -> list[str]:
    return [kind for kind, _ in world.journal]


def test_a_batch_is_written_in_one_call_then_its_offsets_are_committed() -> None:
    world = World()
    engine = _engine(world)
    world.pending.append({P0: _records(P0, 5, 6), P1: _records(P1, 9)})

    engine.poll(100)

    assert _kinds(world) == ["write", "commit"]
    assert world.journal[0][1] == ["t[0]@5", "t[0]@6", "t[1]@9"]
    assert world.journal[1][1] == {P0: 7, P1: 10}
    assert engine.committed == {P0: 7, P1: 10} and world.batches == [3]


def test_a_poll_asks_for_no_more_than_the_room_left_and_waits_no_longer_than_the_batch() -> None:
    world = World()
    clock = [0.0]
    engine: BatchingConsumer[str] = BatchingConsumer(
        consumer=world,  # type: ignore[arg-type]
        producer=world,  # type: ignore[arg-type]
        writer=world,
        deadletter_topic="deadletter",
        metrics=Metrics(world),
        max_rows=10,
        max_seconds=1.0,
        clock=lambda: clock[0],
    )
    world.pending.append({P0: _records(P0, 0, 1, 2)})
    engine.poll(500)
    clock[0] = 0.75

    engine.poll(500)

    assert world.polls == [(500, 10), (250, 7)]
    assert "write" not in _kinds(world)  # neither full nor old yet


def test_a_failed_write_commits_nothing_rewinds_and_replays_the_batch() -> None:
    world = World()
    engine = _engine(world)
    world.fail_writes = True
    world.pending.append({P0: _records(P0, 5, 6), P1: _records(P1, 9)})

    engine.poll(100)

    assert sorted(what for kind, what in world.journal if kind == "seek") == [(P0, 5), (P1, 9)]
    assert "commit" not in _kinds(world) and world.failures == 1

    # When the same messages are read again and the write works
    world.fail_writes = False
    world.pending.append({P0: _records(P0, 5, 6), P1: _records(P1, 9)})
    engine.poll(100)

    assert _kinds(world)[-2:] == ["write", "commit"]
    assert world.written[-1].replayed == frozenset({P0, P1})  # may be written already

    # And the batch after that is not a replay any more
    world.pending.append({P0: _records(P0, 7)})
    engine.poll(100)
    assert world.written[-1].replayed == frozenset()


def test_a_failed_send_fails_the_batch_like_a_failed_write() -> None:
    world = World()
    engine = _engine(world)
    world.fail_sends = True
    world.pending.append({P0: _records(P0, 1)})

    engine.poll(100)

    assert "commit" not in _kinds(world) and ("seek", (P0, 1)) in world.journal
    assert world.failures == 1


def test_a_poison_message_is_dead_lettered_with_its_batch_and_never_fails_it() -> None:
    world = World()
    engine = _engine(world)
    world.pending.append({P0: [*_records(P0, 1), *_records(P0, 2, value=b"{nope")]})

    engine.poll(100)

    assert _kinds(world) == ["send", "write", "commit"]
    assert world.journal[1][1] == ["t[0]@1"]  # the writer sees only what it accepted
    topic, record = world.journal[0][1]
    assert topic == "deadletter"
    assert (record["source_topic"], record["source_offset"], record["error_type"]) == (
        "t",
        2,
        "decode",
    )
    assert record["reason"] == "not JSON: x"
    assert world.journal[2][1] == {P0: 3}
    assert [d.decision.error_type for d in world.disposals] == ["decode"]


def test_a_tombstone_is_committed_without_a_dead_letter() -> None:
    world = World()
    engine = _engine(world)
    world.pending.append({P0: _records(P0, 4, value=None)})

    engine.poll(100)

    assert _kinds(world) == ["commit"]
    assert world.disposals[0].decision.skip_reason == "tombstone"


def test_a_decoder_that_crashes_rejects_each_message_alone_as_internal() -> None:
    world = World()
    engine = _engine(world)
    world.fail_decode = True
    world.pending.append({P0: _records(P0, 1, 2)})

    engine.poll(100)

    sends = [what for kind, what in world.journal if kind == "send"]
    assert [r["source_offset"] for _, r in sends] == [1, 2]
    assert {r["error_type"] for _, r in sends} == {"internal"}
    assert _kinds(world)[-1] == "commit" and world.failures == 0


def test_partitions_about_to_move_get_the_batch_in_hand_written_and_committed_first() -> None:
    world = World()
    revoked: list[bool] = []
    engine = _engine(world, seconds=60.0)
    engine.on_revoked = lambda: revoked.append(True)
    world.pending.append({P0: _records(P0, 3)})
    engine.poll(100)
    assert "write" not in _kinds(world)  # the batch waits for more

    world.listener.on_partitions_revoked({P0})

    assert _kinds(world) == ["write", "commit"] and revoked == [True]


def test_newly_assigned_partitions_are_replayed_in_their_first_batch() -> None:
    world = World()
    engine = _engine(world)
    world.listener.on_partitions_assigned({P0, P1})
    world.pending.append({P0: _records(P0, 10)})

    engine.poll(100)

    assert world.written[-1].replayed == frozenset({P0})
    world.pending.append({P0: _records(P0, 11), P1: _records(P1, 0)})
    engine.poll(100)
    assert world.written[-1].replayed == frozenset({P1})


@pytest.mark.parametrize(
    "error", [RuntimeError("blocking commit refused on the IO thread"), TimeoutError()]
)
def test_a_commit_refused_after_a_rebalance_is_logged_and_the_loop_goes_on(
    error: Exception,
) -> None:
    from kafka.errors import CommitFailedError

    world = World()
    engine = _engine(world)
    world.commit_error = error if isinstance(error, RuntimeError) else CommitFailedError()
    world.pending.append({P0: _records(P0, 1)})

    engine.poll(100)

    assert _kinds(world) == ["write"] and engine.committed == {}
    world.commit_error = None
    world.pending.append({P0: _records(P0, 2)})
    engine.poll(100)
    assert engine.committed == {P0: 3}


def test_commits_can_be_spaced_out_but_never_skip_a_move_of_partitions() -> None:
    world = World()
    clock = [0.0]
    engine = _engine(world, commit_every_s=1.0, clock=lambda: clock[0])
    # Given batches written 0.4 s apart
    for offset in (1, 2):
        clock[0] += 0.4
        world.pending.append({P0: _records(P0, offset)})
        engine.poll(100)
    assert _kinds(world) == ["write", "write"]  # written, not committed yet

    # When a second has passed since the last commit, the next poll commits both, not waiting
    clock[0] += 0.4
    engine.poll(100)
    assert world.journal[-1] == ("commit_async", {P0: 3})
    assert engine.committed == {P0: 3}

    # And when partitions move, what was written is committed at once
    world.pending.append({P1: _records(P1, 7)})
    engine.poll(100)
    assert _kinds(world)[-1] == "write"
    world.listener.on_partitions_revoked({P0, P1})
    assert world.journal[-1] == ("commit", {P1: 8})


def test_a_spaced_out_commit_that_fails_is_logged_and_serving_goes_on() -> None:
    world = World()
    clock = [0.0]
    engine = _engine(world, commit_every_s=1.0, clock=lambda: clock[0])
    world.commit_error = KafkaError("NotCoordinatorError")
    clock[0] += 1.0
    world.pending.append({P0: _records(P0, 1)})
    engine.poll(100)
    world.pending.append({P0: _records(P0, 2)})
    engine.poll(100)

    assert _kinds(world) == ["write", "commit_async", "write"]
    assert engine.committed == {}  # the lag still counts from the last commit that held


def test_a_failed_write_still_commits_the_batches_written_before_it_when_asked() -> None:
    world = World()
    engine = _engine(world, seconds=60.0, commit_every_s=60.0)
    world.pending.append({P0: _records(P0, 1)})
    engine.poll(100)
    assert engine.flush(commit=False) and "commit" not in _kinds(world)
    world.fail_writes = True
    world.pending.append({P0: _records(P0, 2)})
    engine.poll(100)

    assert not engine.flush()  # stopping, say: this batch fails, the one before is committed

    assert world.journal[-2:] == [("seek", (P0, 2)), ("commit", {P0: 2})]


def test_without_max_unacked_each_batch_waits_for_its_acks_before_the_next_poll() -> None:
    world = World()
    engine = _engine(world)
    world.hold_acks = True
    world.pending.append({P0: _records(P0, 1)})

    engine.poll(100)

    assert _kinds(world) == ["write", "flush", "commit"]


def test_with_max_unacked_the_next_batches_go_while_one_awaits_its_acks_and_commit_in_order() -> (
    None
):
    # Given: a batch of P0 whose acks are held (its partition's leader is moving)
    world = World()
    engine = _engine(world, max_unacked=10)
    world.hold_acks = True
    world.pending.append({P0: _records(P0, 1)})
    engine.poll(100)
    held = world.held[0]
    world.hold_acks = False

    # When: the next batch, of P1, is acknowledged at once
    world.pending.append({P1: _records(P1, 7)})
    engine.poll(100)

    # Then: it was written without waiting, and nothing commits past the held batch
    assert _kinds(world) == ["write", "write"]
    assert engine.committed == {}

    # When: the held acks arrive; Then: both batches commit, in order
    held.is_done = True
    engine.poll(100)
    assert world.journal[-1] == ("commit", {P0: 2, P1: 8})
    assert world.batches == [1, 1]


def test_with_max_unacked_a_full_window_waits_for_the_oldest_acks() -> None:
    world = World()
    engine = _engine(world, max_unacked=1)
    world.hold_acks = True
    world.pending.append({P0: _records(P0, 1)})
    world.pending.append({P1: _records(P1, 7)})

    engine.poll(100)
    engine.poll(100)  # two messages unacked, one allowed: wait

    assert _kinds(world) == ["write", "write", "flush", "commit"]
    assert world.journal[-1] == ("commit", {P0: 2, P1: 8})


def test_a_batch_not_acked_rewinds_its_partitions_and_later_batches_commit_none_of_them() -> None:
    # Given: a batch of P0 held, then a batch of P0 and P1 acknowledged, then one buffered
    world = World()
    engine = _engine(world, rows=100, seconds=60.0, max_unacked=10)
    world.hold_acks = True
    world.pending.append({P0: _records(P0, 1)})
    engine.poll(100)
    assert engine.flush(commit=False)
    held = world.held[0]
    world.hold_acks = False
    world.pending.append({P0: _records(P0, 2), P1: _records(P1, 7)})
    engine.poll(100)
    assert engine.flush(commit=False)
    world.pending.append({P0: _records(P0, 3)})
    engine.poll(100)

    # When: the held batch fails (its delivery timed out)
    held.error = RuntimeError("delivery timed out")
    held.is_done = True
    engine.poll(100)

    # Then: P0 is read again from the failed batch, the buffer of P0 too; P1 commits
    assert ("seek", (P0, 1)) in world.journal and ("seek", (P0, 3)) in world.journal
    assert engine.flush()
    assert world.journal[-1] == ("commit", {P1: 8})
    assert world.failures == 1
