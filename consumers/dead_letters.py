"""The one place that decides what happens to a message the sink cannot store.

Rules:
- a tombstone (no value) is skipped: there is nothing to keep;
- a malformed message read from the dead-letter topic itself is skipped (and counted),
  never dead-lettered again, so nothing can loop;
- every other rejected message becomes a ``deadletter.record`` with its reason.

The dead-letter record's event id is derived from the source coordinates, so a
message dead-lettered twice (its batch re-read after a crash) is one row under FINAL.
Either way the offset is committed with the batch and one log line names
``topic[partition]@offset``: the sink never stops for a poison message.
"""

import logging

from consumers.batches import DeadLetter, Entry, Skipped
from consumers.errors import EmptyMessageError, MessageRejectedError
from consumers.rows import derived_event_id
from plumbing.kafka import deadletter_record


def dispose(
    *,
    topic: str,
    partition: int,
    offset: int,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    error: MessageRejectedError,
    deadletter_topic: str,
    consumer_name: str,
    log: logging.Logger,
) -> Entry:
    """Skip or dead-letter a rejected message (see the module's rules), and log it."""
    where = f"{topic}[{partition}]@{offset}"
    if isinstance(error, EmptyMessageError):
        log.info("skip %s: %s", where, error)
        return Skipped("tombstone")
    if topic == deadletter_topic:
        log.warning("skip malformed dead letter %s (not dead-lettered again): %s", where, error)
        return Skipped("malformed_dead_letter")
    log.warning("dead-letter %s: %s: %s", where, error.error_type, error)
    record = deadletter_record(
        topic=topic,
        partition=partition,
        offset=offset,
        payload=value,
        headers=headers,
        consumer_name=consumer_name,
        reason=str(error),
        error_type=error.error_type,
    )
    record["event_id"] = derived_event_id(f"deadletter:{topic}", partition, offset)
    return DeadLetter(record)
