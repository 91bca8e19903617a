"""The micro-batch buffer shared by the predictor and the batch scorer.

The shape (after quix-streams' sink base): ``add()`` buffers per partition,
``flush()`` hands everything to one ``write(batch)`` call, a ``finally`` clears
the buffer, and the offsets to commit are returned only when ``write``
returned. The caller commits them; a failed write commits nothing and the
caller rewinds to ``Batch.first_offsets``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from kafka.structs import TopicPartition

T = TypeVar("T")


@dataclass(frozen=True)
class Batch(Generic[T]):
    """What one ``write`` receives: the items in arrival order and where they came from."""

    items: list[T]
    #: Per partition, the offset of the first buffered message (where to rewind on failure).
    first_offsets: dict[TopicPartition, int]
    #: Per partition, the offset to commit once the batch is written (last offset + 1).
    next_offsets: dict[TopicPartition, int]

    def __len__(self) -> int:
        return len(self.items)


class MicroBatch(Generic[T]):
    """Buffers items per partition until ``max_rows`` are held or the caller flushes."""

    def __init__(self, max_rows: int) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be at least 1, not {max_rows}")
        self.max_rows = max_rows
        self._items: list[T] = []
        self._first: dict[TopicPartition, int] = {}
        self._next: dict[TopicPartition, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.max_rows

    def add(self, partition: TopicPartition, offset: int, item: T) -> None:
        """Buffer ``item``, consumed from ``partition`` at ``offset``."""
        self._items.append(item)
        self._first.setdefault(partition, offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def flush(self, write: Callable[[Batch[T]], None]) -> dict[TopicPartition, int]:
        """Hand the buffer to one ``write`` call and clear it, whatever happens.

        Returns:
            The offsets to commit per partition (empty when nothing was buffered).

        Raises:
            Whatever ``write`` raised; the buffer is cleared and nothing is to be committed.
        """
        if not self._items:
            return {}
        batch = Batch(list(self._items), dict(self._first), dict(self._next))
        try:
            write(batch)
        finally:
            self._items.clear()
            self._first.clear()
            self._next.clear()
        return batch.next_offsets
