"""Read the promoter's ledger topic: every record from the start to the current end.

Read-only: the promoter and operators read it (the CLI's replay, the demo); only the
active promoter writes the ledger (promoter/ledger.py). A caller whose settings name no
Kafka principal reads as the operator.
"""

import logging

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from plumbing import kafka
from plumbing.settings_kafka import KafkaSettings
from schemas.decision_events import LedgerRecord

log = logging.getLogger(__name__)

#: How long one poll of the ledger waits for messages.
POLL_S = 0.5


def ledger_partition(settings: KafkaSettings) -> TopicPartition:
    """The ledger's one partition (one writer keeps its records in sequence order)."""
    return TopicPartition(settings.topic("promoter_ledger").name, 0)


def read_ledger(settings: KafkaSettings, *, timeout_s: float = 10.0) -> list[LedgerRecord]:
    """Every record from the start to the current end, in sequence order.

    A record that does not parse is skipped with a log line: the sink dead-letters it.

    Raises:
        TimeoutError: the end was not reached within ``timeout_s`` seconds.
    """
    reader = settings.with_default_kafka_role("operator")
    consumer = kafka.consumer(reader, group_id=None, client_id="ledger-reader")
    try:
        return read_partition(consumer, ledger_partition(settings), timeout_s)
    finally:
        consumer.close()


def read_partition(
    consumer: KafkaConsumer, partition: TopicPartition, timeout_s: float
) -> list[LedgerRecord]:
    """The ledger records of ``partition`` up to its end when called, sorted by sequence."""
    consumer.assign([partition])
    end = consumer.end_offsets([partition])[partition]
    consumer.seek_to_beginning(partition)
    records: list[LedgerRecord] = []
    polls = max(1, int(timeout_s / POLL_S))
    while consumer.position(partition) < end and polls > 0:
        polls -= 1
        for message in consumer.poll(timeout_ms=int(POLL_S * 1000)).get(partition, []):
            if message.offset >= end:
                break
            try:
                records.append(LedgerRecord.model_validate_json(message.value))
            except ValueError as error:
                log.warning("ledger offset %d is not a ledger record: %s", message.offset, error)
    if consumer.position(partition) < end:
        raise TimeoutError(f"ledger not read to its end ({end}) within {timeout_s} s")
    return sorted(records, key=lambda r: r.sequence)
