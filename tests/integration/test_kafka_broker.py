"""The local broker: topics from schemas/topics.json, produce and consume (as the admin)."""

from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from cli.settings import Settings
from plumbing.kafka_security import client_security
from stack import kafka_access


def _admin(stack: Settings) -> dict[str, Any]:
    return client_security(stack.as_kafka_role("admin"), "kafka-python")


def test_stack_creates_every_contract_topic_with_its_partitions(stack: Settings) -> None:
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, **_admin(stack))
    try:
        expected = {t.name: t.partitions for t in stack.topics()}
        found = {name: len(consumer.partitions_for_topic(name) or ()) for name in expected}
    finally:
        consumer.close()
    assert found == expected


def test_message_produced_is_consumed_back(stack: Settings, unique: str) -> None:
    topic = f"test.roundtrip.{unique}"
    kafka_access.ensure_topics(stack, {topic: 2})
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", **_admin(stack))
    sent = [f"message-{i}-{unique}".encode() for i in range(10)]
    for i, value in enumerate(sent):
        producer.send(topic, value=value, key=str(i).encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap,
        group_id=f"test-{unique}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
        **_admin(stack),
    )
    consumer.subscribe([topic])
    received = []
    for record in consumer:
        received.append(record.value)
        if len(received) == len(sent):
            break
    consumer.close()
    assert sorted(received) == sorted(sent)


def test_ensure_topics_is_idempotent_and_grows_partitions(stack: Settings, unique: str) -> None:
    topic = f"test.grow.{unique}"
    kafka_access.ensure_topics(stack, {topic: 1})
    kafka_access.ensure_topics(stack, {topic: 1})
    kafka_access.ensure_topics(stack, {topic: 3})
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, **_admin(stack))
    try:
        partitions = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    assert partitions == {0, 1, 2}
