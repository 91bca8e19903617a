"""Committing what a consumer wrote: every batch and blocking, or at most every
``commit_every_s`` and in the background (a commit is a round trip to the group
coordinator, which a batch of one request should not pay)."""

import logging
import time
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

log = logging.getLogger(__name__)


class OffsetCommits:
    """The offsets of written batches not committed yet, and those committed (for the lag)."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        *,
        name: str,
        commit_every_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self.name = name
        self._commit_every_s = commit_every_s
        self._clock = clock
        self._committed_at = clock()
        #: Offsets of written batches, not committed yet.
        self._written: dict[TopicPartition, int] = {}
        #: Offsets this consumer committed, per partition (for the lag).
        self.committed: dict[TopicPartition, int] = {}

    def written(self, offsets: dict[TopicPartition, int]) -> None:
        """``offsets`` were written (and acknowledged): commit them with the next commit."""
        self._written.update(offsets)

    def maybe_commit(self, *, force: bool) -> None:
        """Commit what was written when ``force`` is set or ``commit_every_s`` has passed."""
        if not self._written:
            return
        if force or self._clock() - self._committed_at >= self._commit_every_s:
            offsets, self._written = self._written, {}
            self._committed_at = self._clock()
            if force or self._commit_every_s <= 0:
                self._commit(offsets)
            else:
                self._commit_in_background(offsets)

    def _commit_in_background(self, offsets: dict[TopicPartition, int]) -> None:
        """A spaced-out commit does not wait: while the group's coordinator moves (a broker
        restarting) a blocking commit stalled every request behind it. One that fails is
        only a re-read after a crash; partitions that move are still committed blocking."""

        def committed(done: dict[TopicPartition, OffsetAndMetadata], error: object) -> None:
            if isinstance(error, Exception):
                log.warning("%s: commit failed: %s", self.name, error)
            else:
                self.committed.update({tp: o.offset for tp, o in done.items()})

        self._consumer.commit_async(
            {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}, callback=committed
        )

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except (KafkaError, RuntimeError) as error:
            # The group rebalanced: the new owner re-reads (at least once). RuntimeError:
            # kafka-python 3 ran the revoke callback on its IO thread (the broker went away),
            # where a blocking commit is refused; re-reading is safe there too.
            log.warning("%s: commit failed: %s", self.name, error)
            return
        self.committed.update(offsets)
