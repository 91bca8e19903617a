"""Prometheus metrics of the sink, served on its HTTP port at /metrics.

Each sink has its own registry (so tests can build several).
"""

from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from plumbing.dead_letters import Disposal

#: One insert of up to 10,000 rows takes milliseconds in chDB; a server adds a round trip.
INSERT_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class SinkMetrics:
    """The gauges, counters and histogram the sink and its query endpoint update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.lag = Gauge(
            "splitstream_sink_consumer_lag",
            "Messages in the partition not yet committed by the sink (end offset - committed).",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.rows_written = Counter(
            "splitstream_sink_rows_written",
            "Rows inserted, by table (a re-read batch deduplicated by ClickHouse counts again).",
            ["table"],
            registry=self.registry,
        )
        self.insert_seconds = Histogram(
            "splitstream_sink_batch_insert_seconds",
            "Duration of one insert (a batch's rows of one table), by table.",
            ["table"],
            buckets=INSERT_BUCKETS_S,
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "splitstream_sink_dead_letters",
            "Messages sent to the dead-letter topic, by source topic and error type.",
            ["topic", "error_type"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "splitstream_sink_skipped",
            "Messages committed without a row or a dead letter, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.write_failures = Counter(
            "splitstream_sink_write_failures",
            "Batches whose write failed; they are read again.",
            registry=self.registry,
        )
        self.queries = Counter(
            "splitstream_sink_queries",
            "Queries on /query by outcome: ok, refused (not read-only), failed (ClickHouse error).",
            ["outcome"],
            registry=self.registry,
        )

    def inserted(self, table: str, *, rows: int, seconds: float) -> None:
        self.rows_written.labels(table).inc(rows)
        self.insert_seconds.labels(table).observe(seconds)

    def disposed(self, disposal: Disposal) -> None:
        """A rejected message was dead-lettered or skipped (its batch is written)."""
        decision = disposal.decision
        if disposal.dead_letter is not None:
            self.dead_letters.labels(disposal.topic, decision.error_type).inc()
        else:
            self.skipped.labels(decision.skip_reason).inc()

    def write_failed(self) -> None:
        self.write_failures.inc()

    def written(self, messages: int) -> None:
        """A batch of ``messages`` was written (its offsets are committed next)."""

    def set_lag(self, lags: dict[TopicPartition, int]) -> None:
        for tp, lag in lags.items():
            self.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def forget_lag(self) -> None:
        """Drop every partition's lag (after a rebalance the set of partitions changes)."""
        self.lag.clear()
