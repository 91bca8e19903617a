"""What Kafka holds and what ClickHouse stored, read after the run (the I/O edge).

Kafka is read from the beginning of every topic the sink stores; ClickHouse through
the sink's query endpoint, raw (no FINAL), so re-delivered copies are counted.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pandas as pd
from kafka.structs import TopicPartition

from cli.settings import Settings
from clients.sink_query import open_clickhouse_reader
from plumbing import kafka
from plumbing.clickhouse import ClickHouse
from plumbing.errors import SinkUnavailableError

READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class TopicCopies:
    """Copies of each event id, in one topic and in its ClickHouse table."""

    topic: str
    table: str
    in_kafka: Counter[str]
    in_clickhouse: Counter[str]


@dataclass(frozen=True)
class Served:
    """The row v_served_requests gives one request."""

    replied: bool
    status: str | None
    price_lakhs: float | None
    model_version: str | None


def stored_topics(settings: Settings) -> list[tuple[str, str]]:
    """(topic, table) of every topic the sink stores, as consumers.main chooses them."""
    return [(spec.name, spec.table) for spec in settings.topics() if spec.table]


def kafka_event_ids(settings: Settings, topic: str) -> Counter[str]:
    """Copies of each event id in ``topic``, read from the beginning to the current end."""
    # As the admin: the referee reads every topic, which no service principal does alone.
    admin = settings.as_kafka_role("admin")
    consumer = kafka.consumer(admin, group_id=None, client_id="chaos-evidence")
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        copies: Counter[str] = Counter()
        deadline = time.monotonic() + READ_TIMEOUT_S
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {READ_TIMEOUT_S:.0f} s")
            for records in consumer.poll(timeout_ms=500).values():
                copies.update(_event_id(r.value) for r in records)
        return copies
    finally:
        consumer.close()


def _event_id(value: bytes | None) -> str:
    try:
        event: Any = json.loads(value or b"")
    except ValueError:
        return "<not json>"
    return str(event.get("event_id")) if isinstance(event, dict) else "<not an object>"


def clickhouse_event_ids(
    clickhouse: ClickHouse, database: str, table: str, topic: str
) -> Counter[str]:
    rows = clickhouse.query_df(
        f"SELECT event_id, count() AS copies FROM {database}.{table} "  # noqa: S608 (our names)
        "WHERE _topic = {topic:String} GROUP BY event_id",
        {"topic": topic},
    )
    return Counter(dict(zip(rows["event_id"], (int(c) for c in rows["copies"]), strict=True)))


def served_rows(clickhouse: ClickHouse, database: str) -> dict[str, list[Served]]:
    """v_served_requests by request id (a list, so a second row would show)."""
    rows = clickhouse.query_df(
        f"SELECT request_id, replied, status, price_lakhs, model_version "  # noqa: S608
        f"FROM {database}.v_served_requests"
    )
    served: dict[str, list[Served]] = {}
    for row in rows.itertuples(index=False):
        served.setdefault(str(row.request_id), []).append(
            Served(
                bool(row.replied),
                _str(row.status),
                _float(row.price_lakhs),
                _str(row.model_version),
            )
        )
    return served


def reply_rows(clickhouse: ClickHouse, database: str) -> Counter[str]:
    """Raw served (non-shadow) reply rows per request id: above 1 is a duplicate."""
    rows = clickhouse.query_df(
        f"SELECT request_id, count() AS copies FROM {database}.replies "  # noqa: S608
        "WHERE NOT shadow GROUP BY request_id"
    )
    return Counter(dict(zip(rows["request_id"], (int(c) for c in rows["copies"]), strict=True)))


def _str(value: Any) -> str | None:
    return None if pd.isna(value) else str(value)


def _float(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def topic_copies(settings: Settings, *, settle_s: float = 90.0) -> list[TopicCopies]:
    """Kafka against ClickHouse for every stored topic, once the sink has caught up.

    Waits (up to ``settle_s``) until ClickHouse holds every event id Kafka has, or gives
    the last reading: what is then missing is what the check reports.
    """
    clickhouse = open_clickhouse_reader(settings)
    in_kafka = {topic: kafka_event_ids(settings, topic) for topic, _ in stored_topics(settings)}
    deadline = time.monotonic() + settle_s
    while True:
        try:
            found = [
                _compare(settings, clickhouse, topic, table, in_kafka[topic])
                for topic, table in stored_topics(settings)
            ]
        except SinkUnavailableError:
            found = []
        caught_up = bool(found) and all(set(f.in_kafka) <= set(f.in_clickhouse) for f in found)
        if caught_up or time.monotonic() > deadline:
            return found
        time.sleep(2.0)


def _compare(
    settings: Settings, clickhouse: ClickHouse, topic: str, table: str, in_kafka: Counter[str]
) -> TopicCopies:
    stored = clickhouse_event_ids(clickhouse, settings.clickhouse_database, table, topic)
    return TopicCopies(topic, table, in_kafka, stored)
