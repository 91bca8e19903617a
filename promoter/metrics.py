"""The promoter's Prometheus metrics, served on ``promoter_metrics_port`` at /metrics.

What an operator needs to know the promoter works: that it evaluates (and how long ago it
last did: ``splitstream_promoter_seconds_since_last_evaluation``, computed when scraped,
from the process's start until the first evaluation), what it decided, how long swaps and
the predictors' acknowledgements take and who did not acknowledge, the routing
generation, the split test, the hourly drift of each feature, the alerts it raised and
the webhook's deliveries. deploy/prometheus/rules.yml alerts on them.
"""

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: A swap takes a routing write, a broadcast and the acknowledgements: up to the ack timeout.
SWAP_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class PromoterMetrics:
    """The promoter's families, in ``registry`` (a new one by default: tests build several)."""

    def __init__(
        self,
        *,
        evaluate_every_s: float,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._clock = clock
        self._last_evaluation_s = clock()
        self.evaluations = Counter(
            "splitstream_promoter_evaluations",
            "Evaluations of the running experiment (or watch) by this promoter.",
            registry=r,
        )
        self.decisions = Counter(
            "splitstream_promoter_decisions",
            "Ledger records written, by action (wait included).",
            ["action"],
            registry=r,
        )
        self.swap_seconds = Histogram(
            "splitstream_promoter_swap_seconds",
            "One swap from start to its ledger record: routing write, reload broadcast, "
            "acknowledgements.",
            ["action"],
            buckets=SWAP_BUCKETS_S,
            registry=r,
        )
        self.ack_seconds = Histogram(
            "splitstream_promoter_ack_seconds",
            "From a reload broadcast to the last live predictor's acknowledgement (or the "
            "timeout).",
            buckets=SWAP_BUCKETS_S,
            registry=r,
        )
        self.missing_acks = Gauge(
            "splitstream_promoter_missing_acks",
            "Live predictors that did not acknowledge the last reload within the timeout.",
            registry=r,
        )
        self.last_evaluation = Gauge(
            "splitstream_promoter_last_evaluation_timestamp_seconds",
            "When this promoter last evaluated (Unix seconds; its start until then).",
            registry=r,
        )
        self.last_evaluation.set(self._last_evaluation_s)
        since = Gauge(
            "splitstream_promoter_seconds_since_last_evaluation",
            "Seconds since this promoter last evaluated (since it started, before that).",
            registry=r,
        )
        since.set_function(lambda: self._clock() - self._last_evaluation_s)
        interval = Gauge(
            "splitstream_promoter_evaluate_interval_seconds",
            "How often the promoter evaluates, trigger or not (promoter_evaluate_every_s).",
            registry=r,
        )
        interval.set(evaluate_every_s)
        self.generation = Gauge(
            "splitstream_promoter_generation",
            "Generation of the routing object as this promoter last saw it.",
            registry=r,
        )
        self.active = Gauge(
            "splitstream_promoter_active",
            "1 while this promoter is the active one (it holds model.events), 0 on standby.",
            registry=r,
        )
        self.srm_p_value = Gauge(
            "splitstream_promoter_srm_p_value",
            "The split test's p-value at the last evaluation, by experiment.",
            ["experiment_id"],
            registry=r,
        )
        self.srm_mismatch = Gauge(
            "splitstream_promoter_srm_mismatch",
            "1 when the split test flags a sample-ratio mismatch (decisions blocked), else 0.",
            ["experiment_id"],
            registry=r,
        )
        self.drift_psi = Gauge(
            "splitstream_promoter_drift_psi",
            "PSI of each feature in the last complete hour against the serving model's "
            "training distribution, by variant and model version.",
            ["variant", "model_version", "feature"],
            registry=r,
        )
        self.drift_threshold = Gauge(
            "splitstream_promoter_drift_psi_threshold",
            "The policy's PSI above which drift raises an alert.",
            registry=r,
        )
        self.alerts = Counter(
            "splitstream_promoter_alerts",
            "experiment.alert events sent, by kind.",
            ["kind"],
            registry=r,
        )
        self.notifications = Counter(
            "splitstream_promoter_notifications",
            "Webhook posts by outcome: delivered, failed (refused or retries exhausted), "
            "dropped (queue full).",
            ["outcome"],
            registry=r,
        )

    def evaluated(self) -> None:
        """One evaluation done, now."""
        self._last_evaluation_s = self._clock()
        self.last_evaluation.set(self._last_evaluation_s)
        self.evaluations.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
