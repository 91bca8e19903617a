"""What a service plugs into the batching engine (``plumbing.consume_loop``): a ``Writer``
that decodes records and writes batches of the accepted ones, and the metrics it reports."""

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kafka.consumer.fetcher import ConsumerRecord

from plumbing.batch_buffer import Batch
from plumbing.dead_letters import Disposal

T = TypeVar("T")


@dataclass(frozen=True)
class Accepted(Generic[T]):
    """A message the writer decoded, with the record it came from."""

    record: ConsumerRecord
    item: T


Entry = Accepted[Any] | Disposal


class Writer(Protocol[T]):
    """What a service plugs into the engine."""

    #: Names the consumer in logs and dead-letter records.
    name: str

    def decode(self, records: list[ConsumerRecord]) -> list[Any]:
        """One item per record, in order: the decoded ``T``, or the MessageRejectedError
        saying why the record is not one (never raised: one bad message rejects itself)."""
        ...

    def write(self, batch: Batch[Accepted[T]]) -> list[Any]:
        """Write the batch; return the futures of what it sent (the engine awaits them).

        Raises: anything; the engine then rewinds and the batch is read again."""
        ...


class LoopMetrics(Protocol):
    """What the engine reports; each service counts it under its own names."""

    def disposed(self, disposal: Disposal) -> None: ...
    def write_failed(self) -> None: ...
    def written(self, messages: int) -> None: ...
