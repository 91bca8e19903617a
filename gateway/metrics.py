"""Prometheus metrics of one gateway instance, in a registry of its own.

A registry per app (not the global one) lets tests build several apps in one process.
"""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: Latency buckets in seconds: Kafka round trips are milliseconds, the deadline is seconds.
LATENCY_BUCKETS_S = (
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "splitstream_gateway_requests",
            "Prediction requests answered, by variant (none before assignment) and HTTP status.",
            ["api", "variant", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "splitstream_gateway_request_latency_seconds",
            "Time from accepting a prediction request to answering it.",
            ["variant"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.in_flight = Gauge(
            "splitstream_gateway_in_flight_requests",
            "Prediction requests waiting for a reply now.",
            registry=r,
        )
        self.timeouts = Counter(
            "splitstream_gateway_reply_timeouts",
            "Prediction requests that got no reply before the deadline.",
            ["variant"],
            registry=r,
        )
        self.replies_dropped = Counter(
            "splitstream_gateway_replies_dropped",
            "Replies read from this gateway's partition that nobody waits for (late, or not ours).",
            registry=r,
        )
        self.feedback = Counter(
            "splitstream_gateway_feedback",
            "Feedback events published, by API.",
            ["api"],
            registry=r,
        )
        self.refusals = Counter(
            "splitstream_gateway_refused",
            "Prediction requests refused with 503 at once: max_in_flight were in flight.",
            ["api"],
            registry=r,
        )
        self.kafka_up = Gauge(
            "splitstream_gateway_kafka_up", "1 when Kafka answers the gateway.", registry=r
        )
        self.candidate_share = Gauge(
            "splitstream_gateway_candidate_share",
            "Share of traffic sent to the candidate.",
            registry=r,
        )
        # Totals for the old /api/metrics answer (this instance, since it started).
        self.predictions_total = 0
        self.feedback_total = 0

    def refused(self, api: str) -> None:
        """One prediction refused by admission control (also a 503 in ``requests``)."""
        self.refusals.labels(api=api).inc()
        self.requests.labels(api=api, variant="none", status="503").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
