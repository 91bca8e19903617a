"""Prometheus metrics of one predictor or scorer process, served on /metrics.

Each process has its own registry (so tests can build several), labelled by the
slot a number belongs to.
"""

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from plumbing.dead_letters import Disposal

log = logging.getLogger(__name__)

#: Predict-call durations are tens of microseconds to a few hundred milliseconds.
PREDICT_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)


class PredictorMetrics:
    """The counters, histogram and gauges a worker updates."""

    def __init__(self, role: str) -> None:
        self.registry = CollectorRegistry()
        self.role = role
        labels = ["slot"]
        self.batches = Counter(
            "splitstream_predictor_batches", "Batches written.", ["role"], registry=self.registry
        )
        self.rows = Counter(
            "splitstream_predictor_rows", "Rows predicted, by slot.", labels, registry=self.registry
        )
        self.predict_seconds = Histogram(
            "splitstream_predictor_predict_seconds",
            "Duration of one batch prediction (domain check, features, predict call).",
            labels,
            buckets=PREDICT_BUCKETS_S,
            registry=self.registry,
        )
        self.errors = Counter(
            "splitstream_predictor_errors",
            "Problems by kind: decode, schema, missing_header (dead-lettered), out_of_domain, "
            "predict_failed, non_finite_prediction (error replies), expired (past the deadline, "
            "not predicted), write, reload.",
            ["kind"],
            registry=self.registry,
        )
        self.model = Info(
            "splitstream_predictor_model",
            "Model version and routing generation served by each slot.",
            labels,
            registry=self.registry,
        )
        self.model_loaded = Gauge(
            "splitstream_predictor_model_loaded",
            "1 when the slot has a model and serves, 0 when it idles.",
            labels,
            registry=self.registry,
        )
        self._server: Any = None

    def batch(self) -> None:
        self.batches.labels(self.role).inc()

    # What the batching engine reports (plumbing.batch_writer.LoopMetrics).
    def disposed(self, disposal: Disposal) -> None:
        self.error(disposal.decision.error_type)

    def write_failed(self) -> None:
        self.error("write")

    def written(self, messages: int) -> None:
        self.batch()

    def predicted(self, slot: str, *, rows: int, seconds: float) -> None:
        self.rows.labels(slot).inc(rows)
        self.predict_seconds.labels(slot).observe(seconds)

    def error(self, kind: str, count: int = 1) -> None:
        if count:
            self.errors.labels(kind).inc(count)

    def serving(self, slot: str, version: str | None, generation: int) -> None:
        self.model.labels(slot).info({"version": version or "", "generation": str(generation)})
        self.model_loaded.labels(slot).set(1 if version else 0)

    def serve_http(self, *, host: str, port: int) -> int:
        """Start /metrics in a daemon thread; ``port`` 0 picks a free one.

        Returns:
            The port it listens on.
        """
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        bound: int = server.server_port
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        """Stop serving /metrics."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
