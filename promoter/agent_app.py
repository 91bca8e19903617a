"""The Faust app of the stream agent: its id, its broker, its store.

What bounds a restart is the changelog records Faust replays into the tables
before the agent counts anything (``python -m bench.restart`` measures it). With the memory
store a restart replays the whole changelog: the pane table's is O(arms x panes), but the
join table's holds a record per reply half and per join within the TTL, so the replay
grows with rate x TTL and with whatever compaction has not reached yet. So the store is
RocksDB (``promoter_agent_store=rocksdb://``, rocksdict pinned): the tables persist in
``<state_dir>/stream-agent`` with the changelog offset they hold (written as each record is
acknowledged), and a restart reads only the changelog written since, so its catch-up does
not grow with the history. RocksDB's write-ahead log keeps that state across a SIGKILL;
a replayed changelog record only sets a key to the value it already has. The changelogs
stay small anyway (the pane table's compacted, the join table's compacted and
time-limited to the TTL), so a new machine without the RocksDB files rebuilds from
O(live keys). ``memory://`` still works.
"""

from typing import Any

import faust

from plumbing.kafka_security import client_security
from promoter.agent_transport import LongPollApp
from promoter.settings import AgentSettings

#: RocksDB sized for a few small tables, not Faust's defaults (64 MiB write buffers, a
#: 2 GiB block cache per table).
ROCKSDB_OPTIONS = {
    "write_buffer_size": 8 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
    "block_cache_size": 32 * 1024 * 1024,
}


def store_options(settings: AgentSettings) -> dict[str, Any]:
    """The tables' store options: RocksDB's sizes, or none for another store."""
    return dict(ROCKSDB_OPTIONS) if settings.promoter_agent_store.startswith("rocksdb") else {}


def app_id(settings: AgentSettings) -> str:
    """The Faust app id (its consumer group and topic-name stem), prefixed like topics."""
    return settings.topic_prefix + settings.promoter_agent_app_id


def new_app(settings: AgentSettings) -> faust.App:
    """A Faust app on the configured broker, tuned for fast fail-over and quick starts."""
    ident = app_id(settings)
    session_s = settings.kafka_session_timeout_ms / 1000
    return LongPollApp(
        ident,
        fetch_min_bytes=settings.promoter_agent_fetch_min_bytes,
        fetch_max_wait_ms=settings.promoter_agent_fetch_max_wait_ms,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap.split(",")],
        store=settings.promoter_agent_store,
        datadir=settings.state_dir / "stream-agent" / ident,
        topic_partitions=settings.promoter_agent_partitions,
        topic_replication_factor=settings.agent_replication_factor,
        topic_disable_leader=True,  # its __assignor-__leader topic serves nothing here
        broker_session_timeout=session_s,
        broker_heartbeat_interval=max(session_s / 3, 0.5),
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        consumer_metadata_max_age_ms=settings.metadata_max_age_ms,
        producer_metadata_max_age_ms=settings.metadata_max_age_ms,
        # A batch sends a few messages and changelog records; let them share a request.
        producer_linger=0.01,
        # Stop without finishing the batch in hand: it is re-delivered (at least once), and
        # a count off by a batch is fine for a trigger.
        stream_wait_empty=False,
        web_bind=settings.stack_host,
        web_host=settings.stack_host,
        web_port=settings.promoter_agent_web_port,
        **client_security(settings.with_default_kafka_role("agent"), "faust"),
    )
