"""Measurement 4: batch scoring rows/s, against kafka-python's raw consume-and-produce rate.

``python -m bench.batch`` runs this measurement alone on a private stack.
"""

import json
import logging
import os
import statistics
import sys
import time
import uuid
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata

from bench.http_load import REQUEST_BODY
from cli.settings import Settings, get_settings
from clients.scorer import BULK_LINGER_MS, produce_requests, results_consumer
from demo.scenario import train_best_and_candidate
from plumbing import kafka
from schemas.serving_events import ScoreRequest
from stack import kafka_access, services, supervisor
from stack.private import private_stack

log = logging.getLogger("bench.batch")

BATCH_ROWS = 20_000
SCORE_TIMEOUT_S = 300.0
#: Each message of the raw run is the size of a score request.
RAW_MESSAGE = b"x" * 120
#: Rounds of ``python -m bench.batch`` (medians are reported: a shared machine is noisy).
ROUNDS = 3


def _valid(result: dict[str, Any]) -> bool:
    price = result.get("price_lakhs")
    return result.get("status") == "ok" and isinstance(price, int | float) and price > 0


def measure_batch(settings: Settings, rows: int = BATCH_ROWS) -> float:
    """Valid results per second the scorer writes, timed on the results themselves.

    As the floor's input is written before its clock starts, the requests are written
    while the scorer is stopped; it then starts, and the rate runs from the first result's
    Kafka timestamp to the last one's, so neither the writing nor the scorer's start-up
    counts, and the writer does not take the scorer's CPU.
    """
    requests = [
        ScoreRequest.model_validate({"id": f"bench-{i}", **REQUEST_BODY}) for i in range(rows)
    ]
    scorer = next(p for p in services.app_processes(settings) if p.name == "scorer")
    batch = settings.as_kafka_role("batch")  # as a batch-scoring team
    listener = results_consumer(batch, settings.topic("score_results").name)
    try:
        supervisor.stop(scorer)
        produce_requests(batch, requests, lambda stage, n: None)
        supervisor.start(scorer)
        stamps = _result_timestamps(listener, {r.id for r in requests})
    finally:
        listener.close()
    span_s = (max(stamps) - min(stamps)) / 1000 if len(stamps) > 1 else 0.0
    return (len(stamps) - 1) / span_s if span_s > 0 else 0.0


def _result_timestamps(listener: KafkaConsumer, wanted: set[str]) -> list[int]:
    """The Kafka timestamps (ms) of the first valid result of each wanted id."""
    stamps: dict[str, int] = {}
    deadline = time.monotonic() + SCORE_TIMEOUT_S
    while len(stamps) < len(wanted) and time.monotonic() < deadline:
        for records in listener.poll(timeout_ms=200).values():
            for record in records:
                result = json.loads(record.value)
                if result.get("id") in wanted and _valid(result):
                    stamps.setdefault(result["id"], record.timestamp)
    return list(stamps.values())


def measure_raw_consume_produce(settings: Settings, rows: int = BATCH_ROWS) -> float:
    """Messages per second a kafka-python consumer reads and re-produces, as the scorer does.

    The input is written first and not timed; the clock runs from the first poll that
    returns records to the acknowledgement of the last output, committing after each batch
    as the scorer's loop does.
    """
    suffix = uuid.uuid4().hex[:8]
    source = f"{settings.topic_prefix}bench.raw.in.{suffix}"
    sink = f"{settings.topic_prefix}bench.raw.out.{suffix}"
    partitions = settings.topic("score_requests").partitions
    kafka_access.ensure_topics(settings, {source: partitions, sink: partitions})
    admin = settings.as_kafka_role("admin")  # the bench's own topics are in no ACL table
    _fill(admin, source, rows)
    consumer = kafka.consumer(admin, group_id=f"bench-raw-{suffix}", client_id="bench-raw")
    producer = kafka.producer(admin, client_id="bench-raw", value_serializer=None)
    consumer.subscribe([source])
    try:
        deadline, started, moved = time.monotonic() + SCORE_TIMEOUT_S, None, 0
        while moved < rows and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=100)
            if polled and started is None:
                started = time.perf_counter()  # the group join is not consume-and-produce
            offsets = {}
            for partition, records in polled.items():
                for record in records:
                    producer.send(sink, value=record.value)
                offsets[partition] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
                moved += len(records)
            if offsets:
                producer.flush()
                consumer.commit(offsets)
        return moved / (time.perf_counter() - started) if started is not None else 0.0
    finally:
        producer.close(timeout=5)
        consumer.close()


def _fill(settings: Settings, topic: str, rows: int) -> None:
    producer = kafka.producer(settings, linger_ms=BULK_LINGER_MS, value_serializer=None)
    try:
        for _ in range(rows):
            producer.send(topic, value=RAW_MESSAGE)
        producer.flush()
    finally:
        producer.close(timeout=5)


def main() -> int:
    """``python -m bench.batch``: the batch row of ``make bench`` alone, on a private stack.

    Starts a stack and the scorer, measures ``ROUNDS`` times each (the scorer, then the raw
    floor, alternately), prints every figure and the ratio of the medians; stops everything.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    scorer_rates: list[float] = []
    floor_rates: list[float] = []
    with private_stack("bench-batch", Settings, changed=get_settings.cache_clear) as settings:
        train_best_and_candidate(settings)
        services.up(settings, only=("scorer",))
        try:
            for _ in range(ROUNDS):
                scorer_rates.append(measure_batch(settings))
                floor_rates.append(measure_raw_consume_produce(settings))
        finally:
            services.down(settings)
    scorer, floor = statistics.median(scorer_rates), statistics.median(floor_rates)
    for n, (rate, raw) in enumerate(zip(scorer_rates, floor_rates, strict=True), start=1):
        log.info("round %d: scorer %.0f rows/s, raw consume+produce %.0f msg/s", n, rate, raw)
    ratio = scorer / floor if floor else 0.0
    log.info(
        "batch: scorer %.0f rows/s vs floor %.0f msg/s (medians of %d, %d rows each) = %.0f%% "
        "(target >= 50%%); load average %.2f",
        scorer,
        floor,
        ROUNDS,
        BATCH_ROWS,
        100 * ratio,
        os.getloadavg()[0],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
