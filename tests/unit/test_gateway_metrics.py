"""The gateway's metrics: its own families and the old stack's, from one set of counters."""

from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics import GatewayMetrics


def _families(metrics: GatewayMetrics) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    text = metrics.render().decode()
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and lab == labels)


def test_served_predictions_show_under_the_new_and_the_old_names() -> None:
    metrics = GatewayMetrics()
    metrics.served("v1", "prod", 0.004)
    metrics.served("v1", "prod", 0.030)
    metrics.served("legacy", "candidate", 0.010)

    families = _families(metrics)

    new = families["splitstream_gateway_requests"]
    assert _value(new, "splitstream_gateway_requests_total", api="v1", variant="prod", status="200")
    old = families["predictions"]
    assert _value(old, "predictions_total", variant="prod", endpoint="/v1/predict") == 2
    assert (
        _value(old, "predictions_total", variant="candidate", endpoint="/api/predict_home_price")
        == 1
    )
    duration = families["prediction_duration_seconds"]
    labels = {"variant": "prod", "endpoint": "/v1/predict"}
    assert _value(duration, "prediction_duration_seconds_count", **labels) == 2
    assert abs(_value(duration, "prediction_duration_seconds_sum", **labels) - 0.034) < 1e-9
    assert _value(duration, "prediction_duration_seconds_bucket", le="0.005", **labels) == 1
    assert _value(duration, "prediction_duration_seconds_bucket", le="+Inf", **labels) == 2
    assert metrics.predictions_total == 3


def test_every_served_series_exists_at_zero_before_the_first_request() -> None:
    families = _families(GatewayMetrics())

    old = families["predictions"]
    endpoints = {"/v1/predict", "/api/predict_home_price"}
    assert {(lab["variant"], lab["endpoint"]) for n, lab, v in old if n == "predictions_total"} == {
        (variant, endpoint) for variant in ("prod", "candidate") for endpoint in endpoints
    }
    assert all(v == 0 for n, _, v in old if n == "predictions_total")


def test_errors_count_by_variant_endpoint_and_error_type() -> None:
    metrics = GatewayMetrics()
    metrics.failed("v1", "candidate", status=504, error_type="reply_timeout", seconds=2.0)
    metrics.failed("legacy", "none", status=400, error_type="bad_request", seconds=None)
    metrics.refused("v1")

    families = _families(metrics)

    errors = families["prediction_errors"]
    name = "prediction_errors_total"
    assert (
        _value(
            errors, name, variant="candidate", endpoint="/v1/predict", error_type="reply_timeout"
        )
        == 1
    )
    assert (
        _value(
            errors,
            name,
            variant="none",
            endpoint="/api/predict_home_price",
            error_type="bad_request",
        )
        == 1
    )
    assert (
        _value(errors, name, variant="none", endpoint="/v1/predict", error_type="overloaded") == 1
    )
    requests = families["splitstream_gateway_requests"]
    total = "splitstream_gateway_requests_total"
    assert _value(requests, total, api="v1", variant="candidate", status="504") == 1
    assert _value(requests, total, api="v1", variant="none", status="503") == 1
    assert metrics.predictions_total == 0  # an error is not a prediction


def test_feedback_counts_by_type_and_by_api() -> None:
    metrics = GatewayMetrics()
    metrics.feedback_accepted("v1", "actual_price")
    metrics.feedback_accepted("legacy", "too_high")
    metrics.feedback_accepted("legacy", "too_high")

    families = _families(metrics)

    old = families["feedback"]
    assert _value(old, "feedback_total", feedback_type="too_high") == 2
    assert _value(old, "feedback_total", feedback_type="actual_price") == 1
    new = families["splitstream_gateway_feedback"]
    assert _value(new, "splitstream_gateway_feedback_total", api="legacy") == 2
    assert metrics.feedback_total == 3
