"""Measurement 3: a raw Kafka request-reply echo, no model: what Kafka and the clients cost.

The requester is the gateway's half (aiokafka producer with gateway/kafka_link.py's
settings, a reply partition owned through ``assign()`` as gateway/replies.py does);
the echo worker is the predictor's half (bench/echo_worker.py). Each request carries
a sequence number; a reply counts only if it names one we sent and have not seen.
"""

import asyncio
import contextlib
import secrets
import struct
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.environment import bench_process, running
from bench.findings import LoadFindings
from bench.results import RatePoint
from bench.schedule import run_schedule
from cli.settings import Settings
from gateway.kafka_link import REQUEST_TIMEOUT_MS
from gateway.replies import FETCH_MAX_WAIT_MS
from plumbing.kafka_security import client_security
from stack import kafka_access

#: A reply later than this after the last send is an error.
REPLY_TIMEOUT_S = 5.0
#: Requests the max-throughput run sends as fast as the producer takes them.
MAX_THROUGHPUT_REQUESTS = 20_000
#: Request payload: the run's id (a late reply to an earlier run must not count), a
#: sequence number, and padding to about the size of a predict request.
PAYLOAD = struct.Struct(">IQ")
PADDING = b"x" * 300


@dataclass
class _Run:
    run_id: int
    sent_ns: dict[int, int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    last_reply_ns: int = 0


@dataclass(frozen=True)
class FloorTopics:
    requests: str
    replies: str
    group: str


def _new_topics(settings: Settings) -> FloorTopics:
    suffix = uuid.uuid4().hex[:8]
    topics = FloorTopics(
        requests=f"{settings.topic_prefix}bench.floor.requests.{suffix}",
        replies=f"{settings.topic_prefix}bench.floor.replies.{suffix}",
        group=f"{settings.topic_prefix}bench-floor-{suffix}",
    )
    partitions = settings.topic("predict_requests_prod").partitions
    kafka_access.ensure_topics(settings, {topics.requests: partitions, topics.replies: 1})
    return topics


def _admin_security(settings: Settings) -> dict[str, Any]:
    """SASL as the gateway's has it (one handshake per connection), as the admin: the
    floor's own topics are in no ACL table."""
    return client_security(settings.as_kafka_role("admin"), "aiokafka")


def _producer(settings: Settings) -> AIOKafkaProducer:
    """As the gateway's (gateway/kafka_link.py), bytes in."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="bench-floor",
        acks="all",
        linger_ms=settings.kafka_linger_ms,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        retry_backoff_ms=100,
        **_admin_security(settings),
    )


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    """As the gateway's reply consumer (gateway/replies.py)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="bench-floor",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        request_timeout_ms=5_000,
        **_admin_security(settings),
    )


async def _collect(consumer: AIOKafkaConsumer, run: _Run, expected: int) -> None:
    while len(run.latencies_ns) < expected:
        batches = await consumer.getmany(timeout_ms=100)
        now = time.perf_counter_ns()
        for records in batches.values():
            for record in records:
                if record.value is None or len(record.value) < PAYLOAD.size:
                    continue
                run_id, sequence = PAYLOAD.unpack_from(record.value)
                sent = run.sent_ns.pop(sequence, None) if run_id == run.run_id else None
                if sent is not None:  # ours and not yet seen
                    run.latencies_ns.append(now - sent)
                    run.last_reply_ns = now


async def _request_reply(
    settings: Settings, topics: FloorTopics, *, count: int, rate_per_s: float | None
) -> tuple[_Run, float]:
    """Send ``count`` requests on an open-loop schedule (None: as fast as possible)."""
    producer, consumer = _producer(settings), _consumer(settings)
    await producer.start()
    await consumer.start()
    try:
        await producer.partitions_for(topics.requests)  # metadata now, not on the first send
        reply_partition = TopicPartition(topics.replies, 0)
        consumer.assign([reply_partition])
        await consumer.seek_to_end(reply_partition)
        await consumer.position(reply_partition)
        run = _Run(run_id=secrets.randbits(32))
        collector = asyncio.create_task(_collect(consumer, run, count))
        start_ns = time.perf_counter_ns()
        for sequence in range(count):
            if rate_per_s:
                due_ns = start_ns + int(sequence * 1e9 / rate_per_s)
                await asyncio.sleep(max(0.0, (due_ns - time.perf_counter_ns()) / 1e9))
            run.sent_ns[sequence] = time.perf_counter_ns()
            await producer.send(topics.requests, PAYLOAD.pack(run.run_id, sequence) + PADDING)
        with contextlib.suppress(TimeoutError):  # the missing replies are the errors
            await asyncio.wait_for(collector, REPLY_TIMEOUT_S)
        span_s = (max(run.last_reply_ns, start_ns) - start_ns) / 1e9
        return run, span_s
    finally:
        await producer.stop()
        await consumer.stop()


def _attack(settings: Settings, topics: FloorTopics, rate: float, duration_s: float) -> RatePoint:
    count = int(rate * duration_s)
    run, span_s = asyncio.run(_request_reply(settings, topics, count=count, rate_per_s=rate))
    return RatePoint.from_latencies(
        rate_per_s=rate, sent=count, latencies_ns=run.latencies_ns, span_s=span_s
    )


def measure_floor(settings: Settings) -> tuple[LoadFindings, float]:
    """The echo under the load schedule, then its throughput when sent to flat out."""
    topics = _new_topics(settings)
    with tempfile.TemporaryDirectory(prefix="splitstream-bench-") as folder:
        ready_file = Path(folder) / "echo.ready"
        worker = bench_process(
            settings,
            name="bench-echo",
            module="bench.echo_worker",
            args=[topics.requests, topics.replies, topics.group, str(ready_file)],
            ports=[],
            is_ready=ready_file.exists,
        )
        with running(worker):
            found = run_schedule("floor", lambda r, d: _attack(settings, topics, r, d))
            run, span_s = asyncio.run(
                _request_reply(settings, topics, count=MAX_THROUGHPUT_REQUESTS, rate_per_s=None)
            )
    return found, len(run.latencies_ns) / span_s if span_s > 0 else 0.0
