"""The Faust app of the stream agent, with long-poll fetches.

Faust builds its aiokafka consumer with ``fetch_min_bytes=1`` (a fetch returns as soon as
one record arrives) and offers no setting for it. Under steady traffic that is one fetch
round trip, and one pass through Faust's consumer thread, per few records. The agent is
not latency-critical (a trigger may wait half a second), so it asks the broker to hold a
fetch until ``promoter_agent_fetch_min_bytes`` are there or ``..._fetch_max_wait_ms``
passed. aiokafka reads both when the consumer starts, after Faust has built it.
"""

from typing import Any, cast

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT


class _LongPollConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(
        self, transport: faust_aiokafka.Transport
    ) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        app = cast("LongPollApp", self.app)  # only LongPollApp builds this thread
        consumer._fetch_min_bytes = app.fetch_min_bytes
        consumer._fetch_max_wait_ms = app.fetch_max_wait_ms
        return consumer


class _LongPollConsumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _LongPollConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _LongPollTransport(faust_aiokafka.Transport):
    Consumer = _LongPollConsumer


class LongPollApp(faust.App):
    """A Faust app whose worker consumer long-polls the broker."""

    def __init__(
        self, *args: Any, fetch_min_bytes: int, fetch_max_wait_ms: int, **kwargs: Any
    ) -> None:
        self.fetch_min_bytes, self.fetch_max_wait_ms = fetch_min_bytes, fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return _LongPollTransport(self.conf.broker_consumer, self)
