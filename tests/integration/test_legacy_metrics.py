"""The old stack's integration test's metric check, against the running demo's gateway.

The old stack's own test read the gateway's /metrics for ``predictions_total``; its
Grafana dashboard and alerts read the four families below with these labels. They must
keep working after the switch: the same names, the same label names, counting the same
things.
"""

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from demo.traffic import gateway_url
from tests.integration.conftest import DemoRun

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

#: The old stack's families and their labels (histogram samples add ``le``).
OLD_FAMILIES = {
    "predictions": ("counter", {"variant", "endpoint"}),
    "prediction_duration_seconds": ("histogram", {"variant", "endpoint"}),
    "prediction_errors": ("counter", {"variant", "endpoint", "error_type"}),
    "feedback": ("counter", {"feedback_type"}),
}
FORM = {"location": "1st Block Jayanagar", "total_sqft": "1200", "bath": "2", "bhk": "2"}


def _scrape(base: str) -> tuple[str, Samples]:
    answer = httpx.get(f"{base}/metrics", timeout=10)
    assert answer.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    return answer.text, samples


def _delta(before: Samples, after: Samples) -> Callable[..., float]:
    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    return delta


def test_old_stack_metric_check_passes_against_the_gateway(demo: DemoRun) -> None:
    base = gateway_url(demo.settings)
    with httpx.Client(base_url=base, timeout=10) as client:
        _, before = _scrape(base)

        # When an old client predicts, sends an invalid form, and gives feedback
        predicted = client.post("/api/predict_home_price", data=FORM)
        assert predicted.status_code == 200, predicted.text
        variant = predicted.json()["variant"]
        invalid = client.post("/api/predict_home_price", data={**FORM, "bath": "two"})
        assert invalid.status_code == 400
        feedback = client.post(
            "/api/feedback",
            json={"prediction_id": predicted.json()["prediction_id"], "feedback_type": "accurate"},
        )
        assert feedback.status_code == 200, feedback.text

        text, after = _scrape(base)

    # Then the old test's check holds: /metrics names the old families
    for name in ("predictions_total", "prediction_duration_seconds", "prediction_errors_total"):
        assert name in text
    assert "feedback_total" in text

    # And each family has exactly the old labels
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, (kind, labels) in OLD_FAMILIES.items():
        family = families[name]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)

    # And they counted what happened
    delta = _delta(before, after)
    endpoint = "/api/predict_home_price"
    assert delta("predictions_total", variant=variant, endpoint=endpoint) == 1
    assert delta("prediction_duration_seconds_count", variant=variant, endpoint=endpoint) == 1
    assert (
        delta("prediction_duration_seconds_bucket", variant=variant, endpoint=endpoint, le="+Inf")
        == 1
    )
    assert delta("prediction_duration_seconds_sum", variant=variant, endpoint=endpoint) > 0
    assert (
        delta(
            "prediction_errors_total", variant="none", endpoint=endpoint, error_type="bad_request"
        )
        == 1
    )
    assert delta("feedback_total", feedback_type="accurate") == 1
