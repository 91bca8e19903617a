"""The gateway's producer, and whether Kafka is reachable right now.

aiokafka, not kafka-python: measured in a closed loop (one request at a time through an
echo predictor), the reply round trip was shorter with aiokafka, and it never blocks the
event loop, so no thread hand-off.

The link never blocks start-up: the producer connects in a background task and
retries until the broker answers. A TCP probe of the bootstrap servers runs every
``PROBE_INTERVAL_S``; while it fails, or while the producer is not connected,
``available`` is False and predictions answer 503 at once instead of waiting for
their deadline. When the broker returns, the next probe flips it back: no restart.
"""

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from gateway.errors import KafkaUnavailableError
from gateway.settings import GatewaySettings
from plumbing.kafka_security import client_security

log = logging.getLogger(__name__)

#: How often the bootstrap servers are probed, and how long one probe may take.
PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 0.5
#: Probes in a row that must time out before Kafka counts as unreachable; a refusal counts
#: at once. Under load the gateway's own event loop can make a probe time out.
PROBE_TIMEOUTS_BEFORE_DOWN = 3
#: Longest a send may wait for metadata or buffer space before it counts as a failure.
SEND_TIMEOUT_S = 1.0
#: Pause between attempts to connect the producer.
CONNECT_RETRY_S = 1.0
#: Kafka's own per-request timeout (aiokafka's default is 40 s).
REQUEST_TIMEOUT_MS = 5_000


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as plumbing.kafka's producers write it (orjson, for the hot path)."""
    return orjson.dumps(value)


def _encode_key(key: Any) -> bytes | None:
    return key.encode() if isinstance(key, str) else key


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``"h1:9092,[::1]:9093"`` -> ``[("h1", 9092), ("::1", 9093)]``."""
    addresses = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        addresses.append((host.strip("[]") or "127.0.0.1", int(port)))
    return addresses


async def tcp_reachable(addresses: list[tuple[str, int]], timeout_s: float) -> bool | None:
    """True when any address accepts a TCP connection within ``timeout_s``.

    False when every address refused; None when none answered but some only timed out,
    which a busy event loop can cause as well as a lost broker.
    """
    timed_out = False
    for host, port in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except TimeoutError:
            timed_out = True
            continue
        except OSError:
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return None if timed_out else False


class KafkaLink:
    """One producer for the gateway, connected in the background, with a reachability probe."""

    def __init__(self, settings: GatewaySettings, *, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._addresses = bootstrap_addresses(settings.kafka_bootstrap)
        self._producer: AIOKafkaProducer | None = None
        self._reachable = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def available(self) -> bool:
        """True when the producer is connected and the last probe reached a broker."""
        return self._producer is not None and self._reachable

    @property
    def reason(self) -> str | None:
        """Why the link is not available, or None when it is."""
        if self._producer is None:
            return f"kafka: not connected to {self._settings.kafka_bootstrap} yet"
        if not self._reachable:
            return f"kafka: {self._settings.kafka_bootstrap} unreachable"
        return None

    async def start(self) -> None:
        """Start the connect and probe tasks; returns at once."""
        self._tasks = [
            asyncio.create_task(self._connect(), name="kafka-connect"),
            asyncio.create_task(self._probe(), name="kafka-probe"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), timeout=REQUEST_TIMEOUT_MS / 1000)
            except (TimeoutError, KafkaError, OSError) as error:
                log.warning("kafka producer did not stop cleanly: %s", error)

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            client_id=self._client_id,
            acks="all",
            linger_ms=self._settings.kafka_linger_ms,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            retry_backoff_ms=100,
            metadata_max_age_ms=self._settings.metadata_max_age_ms,
            value_serializer=encode_json,
            key_serializer=_encode_key,
            **client_security(self._settings, "aiokafka"),  # SASL: once per connection
        )

    async def _connect(self) -> None:
        """Connect the producer, retrying every CONNECT_RETRY_S until the broker answers."""
        warm = [
            self._settings.topic(key).name
            for key in ("predict_requests_prod", "predict_requests_candidate", "feedback")
        ]
        while self._producer is None:
            if await tcp_reachable(self._addresses, PROBE_TIMEOUT_S):
                producer = self._new_producer()
                try:
                    await producer.start()
                    for topic in warm:  # metadata now, so sends never wait for it
                        await asyncio.wait_for(producer.partitions_for(topic), SEND_TIMEOUT_S * 5)
                except (KafkaError, OSError, TimeoutError) as error:
                    log.warning("kafka producer cannot connect yet: %s", error)
                    with contextlib.suppress(KafkaError, OSError, TimeoutError):
                        await asyncio.wait_for(producer.stop(), REQUEST_TIMEOUT_MS / 1000)
                else:
                    self._producer = producer
                    self._reachable = True
                    log.info("kafka producer connected to %s", self._settings.kafka_bootstrap)
                    return
            await asyncio.sleep(CONNECT_RETRY_S)

    async def _probe(self) -> None:
        timeouts = 0
        while True:
            answer = await tcp_reachable(self._addresses, PROBE_TIMEOUT_S)
            timeouts = timeouts + 1 if answer is None else 0
            reachable = bool(answer) or (answer is None and timeouts < PROBE_TIMEOUTS_BEFORE_DOWN)
            if reachable != self._reachable and self._producer is not None:
                log.warning("kafka %s", "reachable again" if reachable else "unreachable")
            self._reachable = reachable
            await asyncio.sleep(PROBE_INTERVAL_S)

    def mark_unreachable(self, error: BaseException) -> None:
        """A send failed: answer 503 until the next probe succeeds.

        Only with one broker: there a failed send means Kafka is gone. With several, it means
        one partition's leader is moving; the other partitions serve, so only the request
        that failed answers 503, and the probe alone (every broker refusing) stops all.
        """
        if len(self._addresses) > 1:
            log.info("kafka send failed (a leader moving?): %s", error)
            return
        if self._reachable:
            log.warning("kafka send failed, marking kafka unreachable: %s", error)
        self._reachable = False

    async def send(self, topic: str, value: dict[str, Any], *, key: str) -> "asyncio.Future[Any]":
        """Hand one message to the producer; returns the delivery future.

        Raises:
            KafkaUnavailableError: the link is down, or the send could not be queued
                within SEND_TIMEOUT_S.
        """
        producer = self._producer
        if producer is None or not self._reachable:
            raise KafkaUnavailableError(self.reason or "kafka unavailable")
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):  # no task per send, as wait_for makes
                delivery: asyncio.Future[Any] = await producer.send(topic, value=value, key=key)
        except (KafkaError, OSError, TimeoutError) as error:
            self.mark_unreachable(error)
            raise KafkaUnavailableError(f"kafka send to {topic} failed: {error}") from error
        return delivery

    async def send_and_wait(self, topic: str, value: dict[str, Any], *, key: str) -> None:
        """Send one message and wait until Kafka acknowledged it (acks=all).

        Raises:
            KafkaUnavailableError: as ``send``, or Kafka did not acknowledge it within
                the request timeout.
        """
        delivery = await self.send(topic, value, key=key)
        try:
            await asyncio.wait_for(delivery, REQUEST_TIMEOUT_MS / 1000)
        except (KafkaError, OSError, TimeoutError) as error:
            self.mark_unreachable(error)
            raise KafkaUnavailableError(f"kafka did not acknowledge {topic}: {error}") from error
