"""The one consume → batch → write → commit engine of the sink, the predictors and the scorer.

A service plugs in a ``Writer`` (``plumbing.batch_writer``): how to decode what a poll
brought, and how to write a batch. The engine does the rest, the same way for every service:

1. ``poll()`` asks Kafka for at most the room left in the batch, waiting no longer
   than the batch may still wait; the writer decodes each partition's records at once,
   and a message it rejects is skipped or dead-lettered (``plumbing.dead_letters``
   decides, in one place);
2. when the batch is due, ``flush()``: one ``write`` of the accepted items, the dead
   letters produced beside it, every send acknowledged; only then are the offsets
   committed (every batch, or at most every ``commit_every_s``: ``plumbing.offset_commits``). A
   failed write commits nothing of its batch and rewinds every partition to the
   batch's first offset, so the batch is read again. With ``max_unacked`` > 0 the
   next batches are read and written while earlier sends await their acks (one
   partition whose leader moves then delays only its own messages); batches still
   settle, and commit, in order;
3. before partitions move to another member (a rebalance), the batch in hand is written
   and committed, so their new owner starts after it. A partition newly assigned, or
   whose write failed, is marked ``replayed`` in its next batch: what the batch holds
   may have been written already by a write that was never committed, and a writer that
   can tell (the sink) skips it.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from plumbing.batch_buffer import Batch, BatchBuffer
from plumbing.batch_writer import Accepted, Entry, LoopMetrics, Writer
from plumbing.dead_letters import Disposal, dispose
from plumbing.errors import MessageRejectedError, UnexpectedMessageError
from plumbing.kafka import encode_json
from plumbing.offset_commits import OffsetCommits

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest a write waits for its sends' acknowledgements.
WRITE_TIMEOUT_S = 30.0
#: Pause after a failed write before the batch is read again.
RETRY_PAUSE_S = 1.0


@dataclass
class _Sent:
    """A batch written, whose sends await their acknowledgements."""

    batch: Batch[Entry]
    futures: list[Any]
    #: What its acks allow committing; a failed earlier batch takes its partitions out.
    commit: dict[TopicPartition, int]

    @property
    def acked(self) -> bool:
        return all(f.is_done for f in self.futures)


class _FlushBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped: its classes are Any
    def __init__(self, engine: "BatchingConsumer[Any]") -> None:
        self._engine = engine

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._engine.flush()
        self._engine.on_revoked()

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("%s assigned %d partition(s)", self._engine.name, len(assigned))
        self._engine.assigned(assigned)


class BatchingConsumer(Generic[T]):
    """Runs one ``Writer`` over the topics its consumer reads (see the module's steps)."""

    def __init__(
        self,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        writer: Writer[T],
        deadletter_topic: str,
        metrics: LoopMetrics,
        max_rows: int,
        max_seconds: float,
        owns_topics: bool = True,
        commit_every_s: float = 0.0,
        max_unacked: int = 0,
        on_revoked: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``commit_every_s`` > 0 commits the offsets of written batches at most that often,
        without waiting (and blocking before partitions move or the consumer stops); 0 commits
        every batch, blocking. ``max_unacked`` > 0 lets up to that many messages await
        their acks while the next batches are read; 0 waits for each batch's."""
        self._consumer = consumer
        self._producer = producer
        self._writer = writer
        self._deadletter_topic = deadletter_topic
        self._metrics = metrics
        self._owns_topics = owns_topics
        self.on_revoked = on_revoked
        self._buffer: BatchBuffer[Entry] = BatchBuffer(
            max_rows=max_rows, max_seconds=max_seconds, clock=clock
        )
        self._replayed: set[TopicPartition] = set()
        self._commits = OffsetCommits(
            consumer, name=writer.name, commit_every_s=commit_every_s, clock=clock
        )
        self._max_unacked = max_unacked
        #: Batches written whose sends await their acks, oldest first.
        self._sent: deque[_Sent] = deque()
        #: Set to stop: a pause after a failed write ends at once.
        self.stopping = threading.Event()

    @property
    def name(self) -> str:
        return self._writer.name

    @property
    def committed(self) -> dict[TopicPartition, int]:
        """Offsets this consumer committed, per partition (for the lag)."""
        return self._commits.committed

    def subscribe(self, topics: list[str]) -> None:
        self._consumer.subscribe(topics, listener=_FlushBeforeRevoke(self))

    def assigned(self, partitions: Any) -> None:
        """Mark ``partitions`` replayed: a previous owner may have written past its commit."""
        self._replayed.update(partitions)

    def poll(self, timeout_ms: int) -> None:
        """One poll of at most ``timeout_ms`` (less when the batch is due sooner), then a
        flush when the batch is due."""
        left = self._buffer.seconds_left()
        if left is not None:
            timeout_ms = min(timeout_ms, int(left * 1000))
        polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=self._buffer.room)
        for partition, records in polled.items():
            for record, entry in zip(records, self._admit(records), strict=True):
                self._buffer.add(partition, record.offset, entry)
        if self._buffer.due():
            self.flush(commit=False)
        else:
            self._settle(wait=False)
            self._commits.maybe_commit(force=False)

    def flush(self, *, commit: bool = True) -> bool:
        """Write the batch in hand; False when the write failed (its partitions are
        rewound, so it is read again).

        Args:
            commit: commit every written offset now, whatever ``commit_every_s`` says
                (before partitions move, or when stopping).
        """
        try:
            self._buffer.flush(self._write, frozenset(self._replayed))
        except Exception:
            log.exception("%s: writing a batch failed; it will be read again", self.name)
            self._metrics.write_failed()
            self._settle(wait=True)
            self._commits.maybe_commit(force=commit)  # earlier batches were written all the same
            self.stopping.wait(RETRY_PAUSE_S)
            return False
        unacked = sum(len(sent.batch) for sent in self._sent)
        written = self._settle(wait=commit or unacked > self._max_unacked)
        self._commits.maybe_commit(force=commit)
        if not written:
            self.stopping.wait(RETRY_PAUSE_S)
        return written

    # ----------------------------------------------------------------------- one poll

    def _admit(self, records: list[ConsumerRecord]) -> list[Entry]:
        try:
            decoded = self._writer.decode(records)
        except Exception as failure:  # a bug, not bad input: each message is rejected alone
            log.exception("%s: decoding %d records failed", self.name, len(records))
            decoded = [UnexpectedMessageError(f"{type(failure).__name__}: {failure}")] * len(
                records
            )
        return [
            self._reject(record, item)
            if isinstance(item, MessageRejectedError)
            else Accepted(record, item)
            for record, item in zip(records, decoded, strict=True)
        ]

    def _reject(self, record: ConsumerRecord, error: MessageRejectedError) -> Disposal:
        return dispose(
            record,
            error,
            deadletter_topic=self._deadletter_topic,
            consumer_name=self.name,
            log=log,
            owns_topic=self._owns_topics,
        )

    # ----------------------------------------------------------------------- one batch

    def _write(self, batch: Batch[Entry]) -> None:
        accepted = [e for e in batch.items if isinstance(e, Accepted)]
        disposals = [e for e in batch.items if isinstance(e, Disposal)]
        futures: list[Any] = []
        try:
            # Dead letters first: they travel while the writer works.
            futures += [
                self._producer.send(self._deadletter_topic, value=encode_json(d.dead_letter))
                for d in disposals
                if d.dead_letter is not None
            ]
            if accepted:
                batch_of_accepted = Batch(
                    accepted, batch.first_offsets, batch.next_offsets, batch.replayed
                )
                futures += self._writer.write(batch_of_accepted)
        except Exception:
            self._replayed.update(batch.first_offsets)
            self._rewind(batch.first_offsets)
            self._forget(batch.first_offsets)
            raise
        self._sent.append(_Sent(batch, futures, dict(batch.next_offsets)))

    def _settle(self, *, wait: bool) -> bool:
        """Take the acknowledged batches in order (``wait``: all of them, blocking); their
        offsets become committable. False when one failed: its partitions are rewound."""
        settled = True
        while self._sent and (wait or self._sent[0].acked):
            sent = self._sent.popleft()
            try:
                if not sent.acked:
                    self._producer.flush(timeout=WRITE_TIMEOUT_S)
                for future in sent.futures:  # flush() does not raise; a failed send does, here
                    future.get(timeout=WRITE_TIMEOUT_S)
            except Exception:
                log.exception("%s: a batch was not acknowledged; it will be read again", self.name)
                self._metrics.write_failed()
                self._replayed.update(sent.batch.first_offsets)
                self._rewind(sent.batch.first_offsets)
                self._forget(sent.batch.first_offsets)
                self._reread_buffer(sent.batch.first_offsets)
                settled = False
                continue
            self._commits.written(sent.commit)
            self._replayed.difference_update(sent.commit)  # not those rewound meanwhile
            for entry in sent.batch.items:
                if isinstance(entry, Disposal):
                    self._metrics.disposed(entry)
            self._metrics.written(len(sent.batch))
        return settled

    def _forget(self, rewound: dict[TopicPartition, int]) -> None:
        """After a rewind: later batches written commit nothing of those partitions (they
        are read again)."""
        for sent in self._sent:
            for partition in rewound:
                sent.commit.pop(partition, None)

    def _reread_buffer(self, rewound: dict[TopicPartition, int]) -> None:
        """After a rewind of an earlier batch: what the buffer holds is read again too."""
        if any(partition in rewound for partition in self._buffer.partitions):
            self._rewind(self._buffer.first_offsets)
            self._replayed.update(self._buffer.first_offsets)
            self._buffer.clear()

    def _rewind(self, first_offsets: dict[TopicPartition, int]) -> None:
        for partition, offset in first_offsets.items():
            try:
                self._consumer.seek(partition, offset)
            except (KafkaError, ValueError, AssertionError) as error:
                # Revoked meanwhile: its new owner reads from the committed offset.
                log.warning(
                    "%s: could not rewind %s to %d: %s", self.name, partition, offset, error
                )
