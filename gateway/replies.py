"""Pending requests and the listener that resolves them from this gateway's reply partition.

The gateway owns one partition of predict.replies through ``assign()`` (no consumer
group, so no rebalance wait), seeks to its end at start, and hands each reply to the
future waiting under its request id. A reply nobody waits for (another instance's,
or one that came after its deadline) is dropped. The same consumer also reads
model.events, so a promotion refreshes the routing cache at once.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from gateway.kafka_link import CONNECT_RETRY_S, PROBE_TIMEOUT_S, bootstrap_addresses, tcp_reachable
from gateway.metrics import GatewayMetrics
from gateway.settings import GatewaySettings
from plumbing.kafka_security import client_security
from schemas.serving_events import PredictReply

log = logging.getLogger(__name__)

#: Longest getmany() waits before the loop goes round again (data returns it at once;
#: a shorter wait only wakes an idle gateway more often).
POLL_TIMEOUT_MS = 1000
#: Longest the broker holds a fetch when nothing arrives. A reply appended to the
#: partition answers the waiting fetch at once, so this bounds idle polling; but one
#: consumer holds one fetch per broker, so on a cluster a reply partition whose leader
#: moves waits behind the idle commands partition's fetch on its new leader: keep it short.
FETCH_MAX_WAIT_MS = 500
#: Longest the listener waits for an end offset before it reconnects and retries.
POSITION_TIMEOUT_S = 10.0


class PendingReplies:
    """Futures of requests waiting for their reply, by request id."""

    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[PredictReply]] = {}

    def __len__(self) -> int:
        return len(self._futures)

    def register(self, request_id: str) -> "asyncio.Future[PredictReply]":
        """A future the reply to ``request_id`` will resolve; register before sending."""
        future: asyncio.Future[PredictReply] = asyncio.get_running_loop().create_future()
        self._futures[request_id] = future
        return future

    def discard(self, request_id: str) -> None:
        """Forget a request (answered, failed or timed out), so nothing leaks."""
        self._futures.pop(request_id, None)

    def resolve(self, reply: PredictReply) -> bool:
        """Hand ``reply`` to its waiter; False when nobody waits for it."""
        future = self._futures.get(reply.request_id)
        if future is None or future.done():
            return False
        future.set_result(reply)
        return True

    def fail(self, request_id: str, error: BaseException) -> None:
        future = self._futures.get(request_id)
        if future is not None and not future.done():
            future.set_exception(error)


class InboundListener:
    """Reads this gateway's reply partition (and model.events) and resolves pending requests."""

    def __init__(
        self,
        settings: GatewaySettings,
        pending: PendingReplies,
        metrics: GatewayMetrics,
        *,
        on_model_event: Callable[[], None],
        client_id: str,
    ) -> None:
        self._settings = settings
        self._pending = pending
        self._metrics = metrics
        self._on_model_event = on_model_event
        self._client_id = client_id
        self._replies_topic = settings.topic("predict_replies").name
        self._events_topic = settings.topic("model_events").name
        self.reply_partition = settings.gateway_reply_partition
        self.positioned = False
        # Where a replaced consumer resumes the reply partition: a reconnect (the partition's
        # leader moved to another broker) must not skip the replies sent meanwhile.
        self._next_reply_offset: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def reason(self) -> str | None:
        if not self.positioned:
            return f"replies: {self._replies_topic}[{self.reply_partition}] not assigned yet"
        return None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reply-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _connect(self) -> AIOKafkaConsumer:
        """A consumer assigned to our reply partition, positioned at its end."""
        addresses = bootstrap_addresses(self._settings.kafka_bootstrap)
        while True:
            if await tcp_reachable(addresses, PROBE_TIMEOUT_S):
                consumer = AIOKafkaConsumer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    client_id=self._client_id,
                    group_id=None,
                    enable_auto_commit=False,
                    auto_offset_reset="latest",
                    fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                    request_timeout_ms=5_000,
                    # aiokafka's fetcher does not refresh metadata when the leader's
                    # connection fails: on a cluster this finds the partition's new leader.
                    metadata_max_age_ms=self._settings.metadata_max_age_ms,
                    **client_security(self._settings, "aiokafka"),
                )
                try:
                    await consumer.start()
                    await self._assign(consumer)
                except (KafkaError, OSError, ValueError, TimeoutError) as error:
                    log.warning("reply listener cannot connect yet: %s", error)
                    with contextlib.suppress(KafkaError, OSError):
                        await consumer.stop()
                else:
                    return consumer
            await asyncio.sleep(CONNECT_RETRY_S)

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        replies = self._settings.topic("predict_replies")
        if self.reply_partition >= replies.partitions:
            raise ValueError(
                f"{replies.name} has {replies.partitions} partitions, so there is no partition "
                f"{self.reply_partition}; set SPLITSTREAM_GATEWAY_REPLY_PARTITION below that"
            )
        events = self._settings.topic("model_events")
        assigned = [TopicPartition(replies.name, self.reply_partition)]
        assigned += [TopicPartition(events.name, p) for p in range(events.partitions)]
        # a command's result (a share change among them) refreshes the routing at once too
        commands = self._settings.topic("promoter_commands")
        assigned += [TopicPartition(commands.name, p) for p in range(commands.partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        if self._next_reply_offset is not None:  # a reconnect: replies may wait there
            consumer.seek(assigned[0], self._next_reply_offset)
            self._on_model_event()  # and re-read the routing: an event may have been missed
        for tp in assigned:  # resolve the end offsets now, before any request is sent
            await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT_S)

    async def _run(self) -> None:
        """Consume until cancelled; a failed consumer is replaced (and re-seeks to the end)."""
        while True:
            consumer = await self._connect()
            self.positioned = True
            log.info("listening on %s[%s]", self._replies_topic, self.reply_partition)
            try:
                await self._consume(consumer)
            except (KafkaError, OSError) as error:
                log.warning("reply listener failed, reconnecting: %s", error)
            finally:
                self.positioned = False
                with contextlib.suppress(KafkaError, OSError, TimeoutError):
                    await asyncio.wait_for(consumer.stop(), 5.0)
            await asyncio.sleep(CONNECT_RETRY_S)

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)
            for tp, records in batches.items():
                if tp.topic == self._replies_topic:
                    for record in records:
                        self._handle_reply(record)
                    if records:
                        self._next_reply_offset = records[-1].offset + 1
                elif records:
                    self._on_model_event()

    def _handle_reply(self, record: ConsumerRecord[Any, Any]) -> None:
        try:
            reply = PredictReply.model_validate_json(record.value)
        except (ValueError, TypeError, ValidationError, RecursionError) as error:
            log.warning(
                "dropping undecodable reply at %s[%s]@%s: %s",
                record.topic,
                record.partition,
                record.offset,
                str(error)[:200],
            )
            self._metrics.replies_dropped.inc()
            return
        if reply.shadow or not self._pending.resolve(reply):
            self._metrics.replies_dropped.inc()
