"""The sink's batch: consumed messages buffered until the batch is full or old enough.

The shape is the predictors' micro-batch (after quix-streams' sink base): ``add()``
buffers per partition, ``flush()`` hands everything to one ``write(batch)``, a
``finally`` clears the buffer, and the offsets to commit are returned only when
``write`` returned. A batch closes when it holds ``max_rows`` messages or its first
message is ``max_seconds`` old, whichever comes first.

Each topic-partition's rows become one insert whose deduplication token names the
topic, the partition and the first and last offset the batch read from it; a batch
re-read after a crash from the same committed offset carries the same token.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka.structs import TopicPartition


def dedup_token(topic: str, partition: int, first_offset: int, last_offset: int) -> str:
    """The insert deduplication token of the messages ``first_offset..last_offset``."""
    return f"{topic}:{partition}:{first_offset}-{last_offset}"


@dataclass(frozen=True)
class Row:
    """A message that becomes one row of ``table``."""

    table: str
    values: dict[str, Any]


@dataclass(frozen=True)
class DeadLetter:
    """A rejected message: its ``deadletter.record`` goes out with the batch."""

    record: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """A message with nothing to write (a tombstone, a malformed dead letter)."""

    reason: str


Entry = Row | DeadLetter | Skipped


@dataclass(frozen=True)
class Insert:
    """The rows one topic-partition brought into a batch: one insert into ``table``."""

    table: str
    topic: str
    partition: int
    #: First and last offset the batch read from this partition (rows or not).
    first_offset: int
    last_offset: int
    rows: list[dict[str, Any]]

    @property
    def dedup_token(self) -> str:
        return dedup_token(self.topic, self.partition, self.first_offset, self.last_offset)


@dataclass(frozen=True)
class Batch:
    """What one ``write`` receives."""

    inserts: list[Insert]
    dead_letters: list[dict[str, Any]]
    skipped: list[str]
    #: Per partition, the first offset read (where to rewind when the write fails).
    first_offsets: dict[TopicPartition, int]
    #: Per partition, the offset to commit once the batch is written (last offset + 1).
    next_offsets: dict[TopicPartition, int]

    def __len__(self) -> int:
        return sum(len(i.rows) for i in self.inserts) + len(self.dead_letters) + len(self.skipped)


@dataclass
class _Partition:
    first: int
    last: int
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class BatchBuffer:
    """Buffers entries per topic-partition until ``full`` or ``due``."""

    def __init__(
        self,
        *,
        max_rows: int,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rows < 1 or max_seconds <= 0:
            raise ValueError(f"need max_rows >= 1 and max_seconds > 0: {max_rows}, {max_seconds}")
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self._clock = clock
        self._started_at: float | None = None
        self._count = 0
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._dead_letters: list[dict[str, Any]] = []
        self._skipped: list[str] = []

    def __len__(self) -> int:
        return self._count

    @property
    def full(self) -> bool:
        return self._count >= self.max_rows

    def seconds_left(self) -> float | None:
        """Time until the batch is due by age; None while it is empty."""
        if self._started_at is None:
            return None
        return max(0.0, self._started_at + self.max_seconds - self._clock())

    def due(self) -> bool:
        """True when the batch must be written: full, or its first message is old enough."""
        left = self.seconds_left()
        return self.full or (left is not None and left <= 0.0)

    def add(self, topic: str, partition: int, offset: int, entry: Entry) -> None:
        """Buffer ``entry``, read from ``topic[partition]`` at ``offset``."""
        if self._started_at is None:
            self._started_at = self._clock()
        tp = TopicPartition(topic, partition)
        part = self._partitions.setdefault(tp, _Partition(first=offset, last=offset))
        part.first, part.last = min(part.first, offset), max(part.last, offset)
        if isinstance(entry, Row):
            part.rows.setdefault(entry.table, []).append(entry.values)
        elif isinstance(entry, DeadLetter):
            self._dead_letters.append(entry.record)
        else:
            self._skipped.append(entry.reason)
        self._count += 1

    def flush(self, write: Callable[[Batch], None]) -> dict[TopicPartition, int]:
        """Hand the buffer to one ``write`` call and clear it, whatever happens.

        Returns:
            The offsets to commit per partition (empty when nothing was buffered).

        Raises:
            Whatever ``write`` raised; the buffer is cleared and nothing is to be committed.
        """
        if not self._count:
            return {}
        batch = self._batch()
        try:
            write(batch)
        finally:
            self.clear()
        return batch.next_offsets

    def clear(self) -> None:
        self._started_at = None
        self._count = 0
        self._partitions = {}
        self._dead_letters = []
        self._skipped = []

    def _batch(self) -> Batch:
        inserts = [
            Insert(table, tp.topic, tp.partition, part.first, part.last, rows)
            for tp, part in self._partitions.items()
            for table, rows in part.rows.items()
        ]
        return Batch(
            inserts=inserts,
            dead_letters=list(self._dead_letters),
            skipped=list(self._skipped),
            first_offsets={tp: part.first for tp, part in self._partitions.items()},
            next_offsets={tp: part.last + 1 for tp, part in self._partitions.items()},
        )
