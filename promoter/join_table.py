"""The feedback join's state: one unjoined half per request id, for at most a TTL.

A plain Faust table keyed by request id (its changelog is compacted and time-limited:
``cleanup.policy=compact,delete`` with ``retention.ms`` = the TTL). Each value carries the
Unix second it was stored; an older half than the TTL is as good as absent to the join,
and a sweep drops such halves from the local store without writing to the changelog
(retention drops them there), as Faust does for its own windowed tables.
"""

from collections.abc import Iterable, MutableMapping
from typing import Any

import faust
from faust.types import TableT

from promoter.tally import Half
from promoter.window_tables import JSON_SCHEMA
from promoter.wire import half_stored, stored_half


def join_halves_table(
    app: faust.App, ttl_s: int, store_options: dict[str, Any]
) -> TableT[Any, Any]:
    """The Faust table behind ``JoinTable``."""
    configs = {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(ttl_s * 1000),
        # Roll segments often, so compaction and retention see old records soon.
        "segment.ms": str(max(ttl_s // 4, 60) * 1000),
        "min.cleanable.dirty.ratio": "0.1",
        "delete.retention.ms": "60000",
    }
    return app.Table(
        "join-halves",
        schema=JSON_SCHEMA,
        extra_topic_configs=configs,
        options=dict(store_options),  # Faust pops keys from it
    )


class JoinTable:
    """Halves waiting for their partner, over a mapping (the Faust table, a dict in tests).

    ``local`` is where the sweep deletes without a changelog record: the table's store.
    """

    def __init__(
        self, table: MutableMapping[Any, Any], local: MutableMapping[Any, Any], ttl_s: float
    ) -> None:
        self.table, self.local, self.ttl_s = table, local, ttl_s

    def lookup(self, request_id: str, now_s: float) -> Half | None:
        """The half stored for ``request_id``, unless it is older than the TTL."""
        value = self.table.get(request_id)
        if value is None:
            return None
        half, stored_at_s = half_stored(value)
        return half if now_s - stored_at_s <= self.ttl_s else None

    def write(self, writes: dict[str, Half | None], now_s: float) -> None:
        """Store or delete each request id's half (one changelog record each)."""
        for request_id, half in writes.items():
            if half is not None:
                self.table[request_id] = stored_half(half, now_s)
            elif request_id in self.table:
                del self.table[request_id]

    def sweep(self, now_s: float) -> int:
        """Drop halves older than the TTL from the local store; how many were dropped."""
        stale = [key for key, value in _items(self.local) if now_s - value[-1] > self.ttl_s]
        for key in stale:
            del self.local[key]
        return len(stale)


def _items(mapping: MutableMapping[Any, Any]) -> Iterable[tuple[Any, Any]]:
    return list(mapping.items())
