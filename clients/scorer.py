"""The batch scorer's client: requests to score.requests, their score.results back.

It listens on score.results from the end BEFORE producing, keeps only the ids it
sent (others may share the topic), and stops when every id is back or at the timeout.
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from plumbing import kafka
from plumbing.settings_kafka import KafkaSettings
from schemas.serving_events import ScoreRequest

SEND_TIMEOUT_S = 60.0
#: Bulk upload: let the producer fill batches for a few ms (latency does not matter here).
BULK_LINGER_MS = 5

#: Told the row count first ("total", n), then as rows go out ("sent", n) and results
#: come back ("received", n).
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ScoreReport:
    """How a ``score`` run went."""

    sent: int
    received: int
    missing: list[str]
    refused: int
    duplicates: int
    elapsed_s: float

    @property
    def rows_per_s(self) -> float:
        """Results received per second, from the first row sent to the last result."""
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0


def results_consumer(settings: KafkaSettings, topic: str) -> KafkaConsumer:
    """A group-less consumer on every partition of ``topic``, positioned at its end now."""
    consumer = kafka.consumer(settings, group_id=None, max_poll_records=5000)
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        consumer.close()
        raise ValueError(f"topic {topic} does not exist")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_end(*assigned)
    for tp in assigned:
        consumer.position(tp)  # resolve the end now, before anything is produced
    return consumer


def score_requests(
    settings: KafkaSettings,
    requests: Sequence[ScoreRequest],
    *,
    timeout_s: float,
    progress: Progress | None = None,
) -> tuple[dict[str, dict[str, Any]], ScoreReport]:
    """Produce ``requests`` to score.requests and collect their score.results.

    Returns:
        The result event of each id that came back, and the report.
    """
    notify = progress or (lambda stage, n: None)
    notify("total", len(requests))
    wanted = {r.id for r in requests}
    results: dict[str, dict[str, Any]] = {}
    duplicates = 0
    consumer = results_consumer(settings, settings.topic("score_results").name)
    try:
        started = time.perf_counter()
        produce_requests(settings, requests, notify)
        deadline = time.monotonic() + timeout_s
        while len(results) < len(wanted) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    result = _result(record.value)
                    row_id = result.get("id") if result is not None else None
                    if result is None or row_id not in wanted:
                        continue  # someone else's result
                    if row_id in results:
                        duplicates += 1  # redelivered after a scorer restart
                        continue
                    results[row_id] = result
                    notify("received", 1)
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    missing = [r.id for r in requests if r.id not in results]
    report = ScoreReport(len(requests), len(results), missing, 0, duplicates, elapsed)
    return results, report


def produce_requests(
    settings: KafkaSettings, requests: Sequence[ScoreRequest], notify: Progress
) -> None:
    producer = kafka.producer(settings, linger_ms=BULK_LINGER_MS)
    topic = settings.topic("score_requests").name
    try:
        futures = []
        for request in requests:
            value = request.model_dump(mode="json", exclude_none=True)
            futures.append(producer.send(topic, key=request.id, value=value))
            if len(futures) % 500 == 0:
                notify("sent", 500)
        producer.flush(timeout=SEND_TIMEOUT_S)
        for future in futures:
            future.get(timeout=SEND_TIMEOUT_S)
        notify("sent", len(futures) % 500)
    finally:
        producer.close()


def _result(value: bytes | None) -> dict[str, Any] | None:
    try:
        obj = json.loads(value) if value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None
