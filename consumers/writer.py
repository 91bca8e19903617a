"""What the sink plugs into the batching engine: messages into columns, batches into tables.

``decode`` turns the records one poll brought from one partition into one ``Chunk`` of
their table, column by column, and rejects (alone) each message that is not a valid
event or holds a value its column cannot store. ``write`` makes ONE insert per table
per batch, whatever the number of topics and partitions it read.

A batch re-read after a crash is stored once, in two ways:

- rows of a ``replayed`` partition (newly assigned, or whose write failed) that the
  table already holds are dropped before the insert: the sink asks ClickHouse once which
  of that partition's offsets past its commit are stored, and skips them until it has
  read past them. A SIGKILLed sink's batch spanned several topics and partitions; the
  batch its successor reads from the same commits rarely has the same shape, so a
  token alone would not recognise it;
- each insert carries a deduplication token computed from exactly the rows it holds
  (table, and per topic-partition the runs of offsets), so the same rows inserted again
  are a no-op, and different rows never share a token.
"""

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import TopicPartition

from consumers.decoding import decode_event
from consumers.engine import SerialClickHouse
from consumers.feedback_check import check_feedback
from consumers.frames import table_frame
from consumers.metrics import SinkMetrics
from consumers.rows import Chunk, Coordinates, chunk_of
from plumbing.batch_buffer import Batch
from plumbing.batch_writer import Accepted
from plumbing.errors import MessageRejectedError, UnexpectedMessageError
from plumbing.request_ids import RequestIds
from schemas.registry import TopicSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SinkTopics:
    """The topics the sink stores (by configured name) and where dead letters go."""

    by_name: dict[str, TopicSpec]
    deadletter: str


@dataclass(frozen=True)
class RowRef:
    """One accepted message: row ``index`` of ``chunk``."""

    chunk: Chunk
    index: int


def insert_token(table: str, where: list[Coordinates]) -> str:
    """The deduplication token of an insert of the rows read at ``where`` into ``table``.

    The same rows give the same token in any order; any other set of rows another one.
    """
    offsets: dict[tuple[str, int], list[int]] = {}
    for here in where:
        offsets.setdefault((here.topic, here.partition), []).append(here.offset)
    runs: list[str] = []
    for (topic, partition), found in sorted(offsets.items()):
        found.sort()
        start = previous = found[0]
        spans: list[str] = []
        for offset in found[1:]:
            if offset != previous + 1:
                spans.append(f"{start}-{previous}")
                start = offset
            previous = offset
        spans.append(f"{start}-{previous}")
        runs.append(f"{topic}:{partition}:{','.join(spans)}")
    digest = hashlib.sha256("|".join(runs).encode()).hexdigest()[:32]
    return f"{table}:{len(where)}:{digest}"


class SinkWriter:
    """Decodes messages into chunks of their tables and inserts each batch, table by table."""

    def __init__(
        self,
        *,
        clickhouse: SerialClickHouse,
        database: str,
        topics: SinkTopics,
        metrics: SinkMetrics,
        name: str,
        between_inserts: Callable[[], None] = lambda: None,
        request_ids: RequestIds | None = None,
    ) -> None:
        """``between_inserts`` runs after each insert of a batch but its last (a failpoint);
        ``request_ids`` checks that feedback names a served request."""
        self.name = name
        self._request_ids = request_ids
        self._between_inserts = between_inserts
        self._clickhouse = clickhouse
        self._database = database
        self._topics = topics
        self._metrics = metrics
        #: Offsets of replayed partitions found stored, not yet read past.
        self._stored: dict[TopicPartition, set[int]] = {}

    # ----------------------------------------------------------------------- decode

    def decode(self, records: list[ConsumerRecord]) -> list[Any]:
        """One ``RowRef`` or rejection per record (all from one topic-partition)."""
        results: list[Any] = [None] * len(records)
        spec = self._topics.by_name[records[0].topic]
        events: list[tuple[str, Any]] = []
        where: list[Coordinates] = []
        positions: list[int] = []
        for i, record in enumerate(records):
            try:
                event_type, event = decode_event(
                    record.value, events=spec.events, topic=record.topic
                )
                check_feedback(event_type, event, self._request_ids)
                events.append((event_type, event))
            except MessageRejectedError as error:
                results[i] = error
                continue
            except Exception as failure:  # nothing a message holds may stop the sink
                results[i] = UnexpectedMessageError(f"{type(failure).__name__}: {failure}")
                continue
            where.append(
                Coordinates(record.topic, record.partition, record.offset, record.timestamp)
            )
            positions.append(i)
        if events:
            chunk, rejected = chunk_of(
                events, table=spec.table, layout=spec.table_layout, where=where
            )
            kept = 0
            for j, i in enumerate(positions):
                if j in rejected:
                    results[i] = rejected[j]
                else:
                    results[i] = RowRef(chunk, kept)
                    kept += 1
        return results

    # ----------------------------------------------------------------------- write

    def write(self, batch: Batch[Accepted[RowRef]]) -> list[Any]:
        """One insert per table; nothing is produced, so no futures."""
        self._look_up_stored(batch)
        tables = [(t, parts) for t, parts in self._tables(batch).items() if any(parts)]
        for n, (table, parts) in enumerate(tables):
            if n:
                self._between_inserts()
            started = time.perf_counter()
            where = [here for part in parts for here in part.where]
            self._clickhouse.insert_df(
                table, table_frame(table, parts), dedup_token=insert_token(table, where)
            )
            self._metrics.inserted(table, rows=len(where), seconds=time.perf_counter() - started)
        self._forget_read_past(batch.next_offsets)
        return []

    def _tables(self, batch: Batch[Accepted[RowRef]]) -> dict[str, list[Chunk]]:
        """The batch's rows per table, chunk by chunk, without those already stored."""
        picked: dict[int, tuple[Chunk, list[int]]] = {}
        for accepted in batch.items:
            ref = accepted.item
            picked.setdefault(id(ref.chunk), (ref.chunk, []))[1].append(ref.index)
        tables: dict[str, list[Chunk]] = {}
        for chunk, indices in picked.values():
            keep = (
                [i for i in indices if not self._is_stored(chunk.where[i])]
                if self._stored
                else indices
            )
            part = chunk if len(keep) == len(chunk) else chunk.select(keep)
            tables.setdefault(chunk.table, []).append(part)
        return tables

    # ----------------------------------------------------------------------- replays

    def _is_stored(self, here: Coordinates) -> bool:
        stored = self._stored.get(TopicPartition(here.topic, here.partition))
        return stored is not None and here.offset in stored

    def _look_up_stored(self, batch: Batch[Accepted[RowRef]]) -> None:
        """Which offsets of the batch's replayed partitions, from its first on, are stored."""
        by_table: dict[str, list[TopicPartition]] = {}
        for tp in batch.replayed:
            spec = self._topics.by_name.get(tp.topic)
            if spec is not None:
                by_table.setdefault(spec.table, []).append(tp)
        for table, partitions in by_table.items():
            found = self._stored_offsets(table, partitions, batch.first_offsets)
            for tp in partitions:
                self._stored[tp] = found.get(tp, set())
            if found:
                log.info(
                    "%s: %d row(s) of replayed partitions already in %s: skipped",
                    self.name,
                    sum(len(offsets) for offsets in found.values()),
                    table,
                )

    def _stored_offsets(
        self, table: str, partitions: list[TopicPartition], first: dict[TopicPartition, int]
    ) -> dict[TopicPartition, set[int]]:
        conditions, params = [], {}
        for n, tp in enumerate(partitions):
            conditions.append(
                f"(_topic = {{t{n}:String}} AND _partition = {{p{n}:UInt32}} "
                f"AND _offset >= {{o{n}:UInt64}})"
            )
            params.update({f"t{n}": tp.topic, f"p{n}": tp.partition, f"o{n}": first[tp]})
        rows = self._clickhouse.query_df(
            f"SELECT _topic, _partition, _offset FROM {self._database}.{table} "  # noqa: S608
            f"WHERE {' OR '.join(conditions)}",
            params,
        )
        found: dict[TopicPartition, set[int]] = {}
        for topic, partition, offset in zip(
            rows["_topic"], rows["_partition"], rows["_offset"], strict=True
        ):
            found.setdefault(TopicPartition(str(topic), int(partition)), set()).add(int(offset))
        return found

    def _forget_read_past(self, next_offsets: dict[TopicPartition, int]) -> None:
        for tp, next_offset in next_offsets.items():
            stored = self._stored.get(tp)
            if stored is None:
                continue
            stored.difference_update([o for o in stored if o < next_offset])
            if not stored:
                del self._stored[tp]
