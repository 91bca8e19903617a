"""A state folder's worth of past traffic, written fast: requests, replies and feedback.

Every event is valid against its schema (built once through the pydantic models, then
re-stamped as plain dicts and serialised with orjson), goes through the normal topics,
and has its ``occurred_at`` inside the trailing 24 h window, so the agent counts it.
Feedback lags its reply by one chunk, so most halves meet in the agent's join table
rather than within one batch of its source stream, as live feedback does.
"""

import asyncio
import logging
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

from cli.settings import Settings
from plumbing import kafka
from plumbing.kafka_security import client_security
from plumbing.settings_topics import TopicKey
from schemas.serving_events import Feedback, PredictReply, PredictRequest

log = logging.getLogger(__name__)

#: One in this many requests goes to the candidate (the default 20% share).
CANDIDATE_EVERY = 5
#: Requests written before the feedback of the chunk before them.
CHUNK = 50_000
#: History spans this much of the trailing day, ending this long before now.
SPAN_S, END_GAP_S = 20 * 3600, 120
EXPERIMENT = "bench-restart"


@dataclass(frozen=True)
class History:
    """What was written: the truth the agent must count."""

    requests: int
    candidate_requests: int
    events: int
    produce_s: float


def fake_uuid(run: int, i: int, kind: int) -> str:
    """A valid lowercase UUID, unique per run, request and kind, without os.urandom."""
    return f"{i:08x}-{kind:04x}-4000-8000-{run:012x}"


def wire_timestamp(seconds: float) -> str:
    """The wire form of a UTC instant: 2026-11-27T02:11:58.123Z."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@cache
def event_templates() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """One valid request, reply and feedback, as the dicts re-stamped per event."""
    request = PredictRequest.create(
        request_id=fake_uuid(0, 0, 0),
        experiment_id=EXPERIMENT,
        variant="prod",
        assignment="random",
        split_key=None,
        slot="prod",
        shadow=False,
        source="http",
        features={"location": "Whitefield", "total_sqft": 1200.0, "bath": 2, "bhk": 3},
        reply_to={"topic": "predict.replies", "partition": 0},
        deadline_at=datetime.now(UTC),
    )
    reply = PredictReply.create(
        request_id=request.request_id,
        experiment_id=EXPERIMENT,
        variant="prod",
        slot="prod",
        shadow=False,
        model_version="v1",
        status="ok",
        price_lakhs=80.0,
        error=None,
        predictor_id="bench",
        timings={"queued_ms": 1.5, "predict_ms": 0.5, "batch_size": 8},
    )
    feedback = Feedback.create(
        request_id=request.request_id,
        actual_price_lakhs=75.0,
        source="kafka",
        feedback_type="actual_price",
        note=None,
    )
    return (
        request.model_dump(mode="json"),
        reply.model_dump(mode="json"),
        feedback.model_dump(mode="json"),
    )


def _events(run: int, requests: int, now_s: float) -> Iterator[tuple[TopicKey, str, bytes]]:
    """``(topic key, request id, value)`` in write order: chunk k, then chunk k-1's feedback."""
    request_t, reply_t, feedback_t = event_templates()
    step_s = SPAN_S / max(requests, 1)
    start_s = now_s - END_GAP_S - SPAN_S
    pending: list[tuple[str, str]] = []
    for i in range(requests):
        rid = fake_uuid(run, i, 0)
        variant = "candidate" if i % CANDIDATE_EVERY == 0 else "prod"
        at = wire_timestamp(start_s + i * step_s)
        common = {"request_id": rid, "occurred_at": at, "variant": variant}
        request = {**request_t, **common, "event_id": fake_uuid(run, i, 1), "slot": variant}
        reply = {**reply_t, **common, "event_id": fake_uuid(run, i, 2), "slot": variant}
        yield _request_key(variant), rid, orjson.dumps(request)
        yield "predict_replies", rid, orjson.dumps(reply)
        pending.append((rid, at))
        if len(pending) == 2 * CHUNK or i == requests - 1:
            cut = len(pending) if i == requests - 1 else CHUNK
            for n, (fid, fat) in enumerate(pending[:cut]):
                event_id = fake_uuid(run, i - len(pending) + n + 1, 3)
                body = {**feedback_t, "request_id": fid, "occurred_at": fat, "event_id": event_id}
                yield "feedback", fid, orjson.dumps(body)
            del pending[:cut]


def _request_key(variant: str) -> TopicKey:
    return "predict_requests_candidate" if variant == "candidate" else "predict_requests_prod"


#: Live feedback follows its reply by this long, so it joins through the table.
FEEDBACK_LAG_S = 2.0


def _live(run: int, i: int, at_s: float) -> list[tuple[TopicKey, str, bytes]]:
    """Request ``i`` of a live run and its reply, occurred at ``at_s``."""
    request_t, reply_t, _ = event_templates()
    rid = fake_uuid(run, i, 0)
    variant = "candidate" if i % CANDIDATE_EVERY == 0 else "prod"
    common = {"request_id": rid, "occurred_at": wire_timestamp(at_s), "variant": variant}
    request = {**request_t, **common, "event_id": fake_uuid(run, i, 1), "slot": variant}
    reply = {**reply_t, **common, "event_id": fake_uuid(run, i, 2), "slot": variant}
    return [
        (_request_key(variant), rid, orjson.dumps(request)),
        ("predict_replies", rid, orjson.dumps(reply)),
    ]


def _live_feedback(run: int, i: int, at_s: float) -> tuple[TopicKey, str, bytes]:
    rid = fake_uuid(run, i, 0)
    body = {
        **event_templates()[2],
        "request_id": rid,
        "occurred_at": wire_timestamp(at_s),
        "event_id": fake_uuid(run, i, 3),
    }
    return "feedback", rid, orjson.dumps(body)


def write_paced(settings: Settings, *, rate_per_s: float, duration_s: float, run: int) -> History:
    """Live traffic: ``rate_per_s`` requests a second, each with its reply, and its feedback
    ``FEEDBACK_LAG_S`` later."""
    topics = {key: settings.topic(key).name for key in _topic_keys()}
    producer = bulk_producer(settings)
    started = time.monotonic()
    total, lag = int(rate_per_s * duration_s), int(rate_per_s * FEEDBACK_LAG_S)
    try:
        for i in range(total + lag):
            delay = started + i / rate_per_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now_s = time.time()
            due = _live(run, i, now_s) if i < total else []
            if i >= lag:
                due.append(_live_feedback(run, i - lag, now_s))
            for key, rid, value in due:
                producer.send(topics[key], key=rid.encode(), value=value)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    candidates = len(range(0, total, CANDIDATE_EVERY))
    return History(total, candidates, 3 * total, time.monotonic() - started)


def bulk_producer(settings: Settings) -> KafkaProducer:
    """A producer for a few bench messages (the history goes through ``_write_batches``), as
    the admin: it writes requests, replies and feedback, which no one principal does."""
    return kafka.producer(settings.as_kafka_role("admin"), value_serializer=None)


async def _write_batches(settings: Settings, events: Iterator[tuple[TopicKey, str, bytes]]) -> int:
    """Every event, in record batches built by aiokafka (C-accelerated): kafka-python's
    per-message send is too slow for millions of messages."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        max_batch_size=1024 * 1024,
        **client_security(settings.as_kafka_role("admin"), "aiokafka"),  # as bulk_producer
    )
    await producer.start()
    try:
        topics = {key: settings.topic(key).name for key in _topic_keys()}
        partitions = {key: len(await producer.partitions_for(name)) for key, name in topics.items()}
        open_batches: dict[tuple[TopicKey, int], Any] = {}
        sent: list[asyncio.Future[Any]] = []
        written = 0
        for key, rid, value in events:
            target = (key, zlib.crc32(rid.encode()) % partitions[key])
            batch = open_batches.get(target) or open_batches.setdefault(
                target, producer.create_batch()
            )
            if batch.append(key=rid.encode(), value=value, timestamp=None) is None:
                sent.append(await producer.send_batch(batch, topics[key], partition=target[1]))
                batch = open_batches[target] = producer.create_batch()
                batch.append(key=rid.encode(), value=value, timestamp=None)
            written += 1
            if written % 500_000 == 0:
                log.info("history: %d events written", written)
            if len(sent) > 64:
                await asyncio.gather(*sent)
                sent.clear()
        for (key, partition), batch in open_batches.items():
            sent.append(await producer.send_batch(batch, topics[key], partition=partition))
        await asyncio.gather(*sent)
        return written
    finally:
        await producer.stop()


def write_history(settings: Settings, *, requests: int, run: int) -> History:
    """Write ``requests`` requests with a reply and a feedback each; returns the truth."""
    started = time.monotonic()
    written = asyncio.run(_write_batches(settings, _events(run, requests, time.time())))
    candidates = len(range(0, requests, CANDIDATE_EVERY))
    return History(requests, candidates, written, time.monotonic() - started)


def _topic_keys() -> tuple[TopicKey, ...]:
    return ("predict_requests_prod", "predict_requests_candidate", "predict_replies", "feedback")
