"""Kafka clients set up the same way everywhere, and the dead-letter record.

Timeouts are short on purpose: kafka-python's default 45 s session timeout
would make a killed worker's partitions wait 45 s for a new owner. Each client logs in
as the process's Kafka principal (``plumbing.kafka_security``).
"""

import base64
import json
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.serializer import Serializer

from plumbing import kafka_socket_fix  # noqa: F401 (closes the socket of a failed connect)
from plumbing.kafka_security import client_security
from plumbing.settings_kafka import KafkaSettings
from schemas.deadletter_record import DeadletterRecord

MAX_PAYLOAD_BYTES = 64 * 1024


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class CompactJsonSerializer(Serializer):  # type: ignore[misc]  # kafka-python is untyped: its classes are Any
    """Values as compact UTF-8 JSON; bytes (already encoded) pass through."""

    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: Any) -> bytes | None:
        if data is None or isinstance(data, bytes):
            return data
        return encode_json(data)


class KeySerializer(Serializer):  # type: ignore[misc]  # kafka-python is untyped: its classes are Any
    """Keys as UTF-8 text; bytes pass through."""

    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: Any) -> bytes | None:
        return data.encode() if isinstance(data, str) else data


#: kafka-python backs reconnects off up to 30 s; after a broker restart a client could then
#: sit idle that long (measured by make chaos). The Java client's ceiling is 1 s.
RECONNECT_BACKOFF_MAX_MS = 1_000
#: Longest a produced record may wait for its acknowledgement, retries included.
DELIVERY_TIMEOUT_MS = 30_000


def producer(settings: KafkaSettings, **overrides: Any) -> KafkaProducer:
    """A JSON producer; ``acks=all`` so an acknowledged message is not lost."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "acks": "all",
        "linger_ms": settings.kafka_linger_ms,
        "value_serializer": CompactJsonSerializer(),
        "key_serializer": KeySerializer(),
        # Retries until the delivery timeout, not a count: while a lost broker's partitions
        # wait for a new leader (a cluster fences it after 3 s) every attempt fails at once,
        # and 5 retries 100 ms apart were spent long before. Idempotence (kafka-python's
        # default) keeps a retried record single.
        "delivery_timeout_ms": DELIVERY_TIMEOUT_MS,
        "request_timeout_ms": 10_000,
        "max_block_ms": 10_000,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "metadata_max_age_ms": settings.metadata_max_age_ms,
        **client_security(settings, "kafka-python"),
    }
    return KafkaProducer(**{**config, **overrides})


def consumer(settings: KafkaSettings, *, group_id: str | None, **overrides: Any) -> KafkaConsumer:
    """A consumer that commits by hand (after the work is done) and fails over fast.

    Values stay bytes: decoding is the caller's, so a poison message can be
    dead-lettered instead of crashing the poll loop.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": max(settings.kafka_session_timeout_ms // 3, 500),
        "max_poll_records": settings.kafka_max_poll_records,
        "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "metadata_max_age_ms": settings.metadata_max_age_ms,
        **client_security(settings, "kafka-python"),
    }
    return KafkaConsumer(**{**config, **overrides})


def admin(settings: KafkaSettings, **overrides: Any) -> KafkaAdminClient:
    """An admin client (describe groups and the like) as the process's principal."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
        "metadata_max_age_ms": settings.metadata_max_age_ms,
        **client_security(settings, "kafka-python"),
    }
    return KafkaAdminClient(**{**config, **overrides})


def deadletter_record(
    *,
    topic: str,
    partition: int,
    offset: int,
    payload: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    consumer_name: str,
    reason: str,
    error_type: str,
) -> dict[str, Any]:
    """The ``deadletter.record`` event for one message that could not be handled."""
    raw = payload or b""
    truncated = raw[:MAX_PAYLOAD_BYTES]
    try:
        text, encoding = truncated.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(truncated).decode(), "base64"
    record = DeadletterRecord.create(
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        consumer=consumer_name,
        reason=reason[:2000],
        error_type=error_type,
        payload=text,
        payload_encoding=encoding,
        payload_truncated=len(raw) > MAX_PAYLOAD_BYTES,
        payload_bytes=len(raw),
        headers={k: v.decode("utf-8", "replace") for k, v in (headers or [])},
    )
    return record.model_dump(mode="json")
