"""The batch of a consume → batch → write → commit loop, as plain data (no Kafka I/O).

The shape is quix-streams' ``BatchingSink``: ``add()`` buffers per partition,
``flush()`` hands everything to one ``write(batch)``, a ``finally`` clears the
buffer, and the offsets to commit are returned only when ``write`` returned. A
batch is due when it holds ``max_rows`` items or its first item is ``max_seconds``
old; ``max_seconds=0`` makes it due as soon as it holds anything (the predictors
write what each poll brought).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from kafka.structs import TopicPartition

T = TypeVar("T")


@dataclass(frozen=True)
class Batch(Generic[T]):
    """What one ``write`` receives: the items in arrival order and where they came from."""

    items: list[T]
    #: Per partition, the first offset buffered (where to rewind when the write fails).
    first_offsets: dict[TopicPartition, int]
    #: Per partition, the offset to commit once the batch is written (last offset + 1).
    next_offsets: dict[TopicPartition, int]
    #: Partitions whose messages here may already have been written by a write that was
    #: never committed (the first batch after an assignment or after a failed write).
    replayed: frozenset[TopicPartition] = frozenset()

    def __len__(self) -> int:
        return len(self.items)


class BatchBuffer(Generic[T]):
    """Buffers items per partition until the batch is ``due``."""

    def __init__(
        self,
        *,
        max_rows: int,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rows < 1 or max_seconds < 0:
            raise ValueError(f"need max_rows >= 1 and max_seconds >= 0: {max_rows}, {max_seconds}")
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self._clock = clock
        self._started_at: float | None = None
        self._items: list[T] = []
        self._first: dict[TopicPartition, int] = {}
        self._next: dict[TopicPartition, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def partitions(self) -> frozenset[TopicPartition]:
        return frozenset(self._first)

    @property
    def first_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the first offset buffered (a copy)."""
        return dict(self._first)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.max_rows

    @property
    def room(self) -> int:
        """How many more items fit before the batch is full (at least 1, for a poll)."""
        return max(1, self.max_rows - len(self._items))

    def seconds_left(self) -> float | None:
        """Time until the batch is due by age; None while it is empty."""
        if self._started_at is None:
            return None
        return max(0.0, self._started_at + self.max_seconds - self._clock())

    def due(self) -> bool:
        """True when the batch must be written: full, or its first item is old enough."""
        left = self.seconds_left()
        return self.full or (left is not None and left <= 0.0)

    def add(self, partition: TopicPartition, offset: int, item: T) -> None:
        """Buffer ``item``, consumed from ``partition`` at ``offset``."""
        if self._started_at is None:
            self._started_at = self._clock()
        self._items.append(item)
        first = self._first.get(partition)
        self._first[partition] = offset if first is None else min(first, offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def flush(
        self,
        write: Callable[[Batch[T]], None],
        replayed: frozenset[TopicPartition] = frozenset(),
    ) -> dict[TopicPartition, int]:
        """Hand the buffer to one ``write`` call and clear it, whatever happens.

        Args:
            replayed: partitions to mark as such in the batch (those in it are kept).

        Returns:
            The offsets to commit per partition (empty when nothing was buffered).

        Raises:
            Whatever ``write`` raised; the buffer is cleared and nothing is to be committed.
        """
        if not self._items:
            return {}
        batch = Batch(
            list(self._items),
            dict(self._first),
            dict(self._next),
            frozenset(tp for tp in replayed if tp in self._first),
        )
        try:
            write(batch)
        finally:
            self.clear()
        return batch.next_offsets

    def clear(self) -> None:
        self._started_at = None
        self._items = []
        self._first = {}
        self._next = {}
