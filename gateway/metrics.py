"""Prometheus metrics of one gateway instance, in a registry of its own.

A registry per app (not the global one) lets tests build several apps in one process.
The prediction path counts through ``served`` and ``failed``: the label children of
every answer a prediction can get are looked up once and kept (``labels()`` builds a
tuple, takes a lock and hashes on every call). The old stack's four
families are also exported (gateway/legacy_metrics.py); three of them are views of
the counters below, so they cost the hot path nothing.
"""

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.legacy_metrics import ENDPOINT_OF_API, LegacyFamilies

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
#: Loop lag buckets in seconds: a loop that keeps up is late by well under a millisecond.
LOOP_LAG_BUCKETS_S = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)

APIS = tuple(ENDPOINT_OF_API)
VARIANTS = ("prod", "candidate")
#: The variant label of a request that failed before it was assigned one.
NO_VARIANT = "none"


@dataclass(frozen=True)
class _Served:
    """The children one successful prediction of (api, variant) updates."""

    requests: Counter
    latency: Histogram


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "splitstream_gateway_requests",
            "Prediction requests answered, by API, variant (none before assignment) and "
            "HTTP status.",
            ["api", "variant", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "splitstream_gateway_request_latency_seconds",
            "Time from accepting a prediction request to answering it, by variant and API.",
            ["variant", "api"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.in_flight = Gauge(
            "splitstream_gateway_in_flight_requests",
            "Prediction requests waiting for a reply now.",
            registry=r,
        )
        self.loop_lag = Histogram(
            "splitstream_gateway_loop_lag_seconds",
            "How late the event loop runs, sampled every 5 ms while predictions arrive: "
            "high means the gateway's CPU is short.",
            buckets=LOOP_LAG_BUCKETS_S,
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
            "Prediction requests refused with 503 at once: max_in_flight were in flight, "
            "max_in_flight_behind while the event loop ran behind, or it lagged past "
            "max_loop_lag_ms.",
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
        # The old stack's families that are not views of the ones above.
        self.prediction_errors = Counter(
            "prediction_errors",
            "The old stack's name: prediction requests answered with an error, by variant "
            "(none before assignment), endpoint and error type (the error body's code).",
            ["variant", "endpoint", "error_type"],
            registry=r,
        )
        self.feedback_by_type = Counter(
            "feedback",
            "The old stack's name: feedback accepted, by feedback type.",
            ["feedback_type"],
            registry=r,
        )
        r.register(LegacyFamilies(requests=self.requests, latency=self.latency))
        # Every answer a successful prediction can get, created now: each series starts at
        # 0 (so rate() sees the first request) and the hot path looks nothing up.
        self._served = {
            api: {
                variant: _Served(
                    self.requests.labels(api, variant, "200"),
                    self.latency.labels(variant, api),
                )
                for variant in VARIANTS
            }
            for api in APIS
        }
        # Totals for the old /api/metrics answer (this instance, since it started).
        self.predictions_total = 0
        self.feedback_total = 0

    def served(self, api: str, variant: str, seconds: float) -> None:
        """One prediction answered 200 after ``seconds``."""
        children = self._served[api][variant]
        children.requests.inc()
        children.latency.observe(seconds)
        self.predictions_total += 1

    def failed(
        self, api: str, variant: str, *, status: int, error_type: str, seconds: float | None
    ) -> None:
        """One prediction answered with an error (``seconds`` None: refused before timing)."""
        self.requests.labels(api, variant, str(status)).inc()
        if seconds is not None:
            self.latency.labels(variant, api).observe(seconds)
        self.prediction_errors.labels(variant, ENDPOINT_OF_API[api], error_type).inc()

    def refused(self, api: str) -> None:
        """One prediction refused by admission control (also a 503 in ``requests``)."""
        self.refusals.labels(api).inc()
        self.failed(api, NO_VARIANT, status=503, error_type="overloaded", seconds=None)

    def feedback_accepted(self, api: str, feedback_type: str) -> None:
        """One feedback event on the topic."""
        self.feedback.labels(api).inc()
        self.feedback_by_type.labels(feedback_type).inc()
        self.feedback_total += 1

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
