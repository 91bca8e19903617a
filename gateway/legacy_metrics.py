"""The old stack's metric families, so its dashboards and alerts keep working after the switch.

The old Flask stack exported ``predictions_total{variant, endpoint}``,
``prediction_duration_seconds{variant, endpoint}`` (a histogram),
``prediction_errors_total{variant, endpoint, error_type}`` and
``feedback_total{feedback_type}``. The last two are plain counters
(gateway/metrics.py). The first two are views, built at scrape time from the
gateway's own ``splitstream_gateway_requests`` (status 200) and
``splitstream_gateway_request_latency_seconds``: the same numbers under the old names
and labels, so a prediction pays for one set of counters, not two.
"""

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

#: The ``endpoint`` label of each API: the route's path.
ENDPOINT_OF_API = {"v1": "/v1/predict", "legacy": "/api/predict_home_price"}

PREDICTIONS = "predictions"
DURATION = "prediction_duration_seconds"


class LegacyFamilies(Collector):
    """``predictions_total`` and ``prediction_duration_seconds`` from the gateway's own metrics."""

    def __init__(self, *, requests: Counter, latency: Histogram) -> None:
        self._requests = requests
        self._latency = latency

    def collect(self) -> Iterator[Metric]:
        predictions = Metric(
            PREDICTIONS,
            "The old stack's name: predictions answered 200, by variant and endpoint.",
            "counter",
        )
        for family in self._requests.collect():
            for sample in family.samples:
                labels = sample.labels
                if labels.get("status") != "200" or labels.get("api") not in ENDPOINT_OF_API:
                    continue
                suffix = sample.name[len(family.name) :]  # _total or _created
                predictions.add_sample(
                    PREDICTIONS + suffix, _old_labels(labels), sample.value, sample.timestamp
                )
        yield predictions

        duration = Metric(
            DURATION,
            "The old stack's name: time from accepting a prediction request to answering "
            "it, by variant and endpoint.",
            "histogram",
        )
        for family in self._latency.collect():
            for sample in family.samples:
                if sample.labels.get("api") not in ENDPOINT_OF_API:
                    continue
                suffix = sample.name[len(family.name) :]  # _bucket, _sum, _count, _created
                duration.add_sample(
                    DURATION + suffix, _old_labels(sample.labels), sample.value, sample.timestamp
                )
        yield duration


def _old_labels(labels: dict[str, str]) -> dict[str, str]:
    """``{api, variant, status?, le?}`` -> ``{variant, endpoint, le?}``."""
    old = {"variant": labels["variant"], "endpoint": ENDPOINT_OF_API[labels["api"]]}
    if "le" in labels:
        old["le"] = labels["le"]
    return old
