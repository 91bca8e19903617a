"""The promoter's loop outlives what used to end it, and loses no event for it.

A promoter whose group moved on while it worked (it was starved past its poll interval)
died on the commit; one that could not read S3 when it became active died too. Either
left no promoter at all: nothing restarts a local one.
"""

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from cli.settings import Settings
from clients.promoter_commands import send_command
from plumbing import kafka
from plumbing.s3 import s3_client
from promoter.main import feed_batch
from stack import kafka_access
from tests.integration.promoter_thread import running_promoter

POLL_INTERVAL_MS = 1000  # past this without a poll, the consumer leaves its group


@dataclass
class EventLog:
    """Stands in for the promoter's loop: only what ``feed_batch`` hands it."""

    values: list[bytes] = field(default_factory=list)

    def on_message(self, message: Any) -> None:
        self.values.append(message.value)


def _poll_until_records(consumer: Any, timeout_s: float = 30.0) -> dict[Any, list[Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch: dict[Any, list[Any]] = consumer.poll(timeout_ms=500)
        if batch:
            return batch
    raise AssertionError("no records within the timeout")


def test_a_refused_commit_is_logged_and_the_event_is_read_again(
    stack: Settings, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = stack.model_copy(update={"topic_prefix": f"pc-{unique}.", "kafka_role": "admin"})
    topic = settings.topic("model_events").name
    kafka_access.ensure_topics(settings, {topic: 1})
    producer = kafka.producer(settings, client_id="commit-test")
    producer.send(topic, b'{"event_type": "experiment.trigger"}').get(timeout=10)
    producer.close(timeout=5)
    consumer = kafka.consumer(
        settings,
        group_id=f"pc-{unique}",
        client_id="commit-test",
        max_poll_interval_ms=POLL_INTERVAL_MS,
    )
    consumer.subscribe([topic])
    events = EventLog()
    try:
        batch = _poll_until_records(consumer)
        # Given a consumer that held its batch past the poll interval, so it left the group
        time.sleep(3 * POLL_INTERVAL_MS / 1000)
        # When the promoter's loop takes the batch and commits
        with caplog.at_level(logging.WARNING, logger="promoter.main"):
            feed_batch(events, consumer, batch)  # type: ignore[arg-type]  # only on_message is used
        # Then the refusal is a log line, not the end of the loop
        assert "commit failed" in caplog.text
        # and the event, never committed, is read again once the consumer rejoins
        again = _poll_until_records(consumer)
        assert [m.value for ms in again.values() for m in ms] == events.values
    finally:
        consumer.close()


def _wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold within the timeout"
        time.sleep(0.2)


def test_a_failed_activation_is_tried_again_and_the_command_waiting_is_answered(
    stack: Settings, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = stack.model_copy(
        update={
            "s3_bucket": f"pa-{unique}",  # not created yet: the promoter cannot read S3
            "topic_prefix": f"pa-{unique}.",
            "kafka_role": "admin",  # this test's own prefix is in no ACL table
        }
    )
    kafka_access.ensure_topics(settings, {t.name: t.partitions for t in settings.topics()})
    with caplog.at_level(logging.ERROR, logger="promoter.main"), running_promoter(settings):
        _wait_for(lambda: "activation failed" in caplog.text)
        with ThreadPoolExecutor(1) as pool:
            # Given a command sent while the promoter cannot become active
            answer = pool.submit(
                send_command, settings, action="resume", operator="test", reason="t", timeout_s=60
            )
            time.sleep(2)
            assert not answer.done()
            # When S3 answers again
            s3_client(settings).create_bucket(Bucket=settings.s3_bucket)
            # Then the promoter activates on its next try and executes the command (the
            # bucket is empty, so there is nothing to resume)
            result = answer.result(timeout=90)
    assert (result.outcome, result.message) == ("refused", "no model was ever published")
