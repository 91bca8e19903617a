"""The promoter's signals: a record, an event or an evaluation becomes metrics and a message."""

from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from plumbing.settings import PROJECT_ROOT
from promoter.metrics import PromoterMetrics
from promoter.notify import Delivery, Notifier
from promoter.signals import Signals
from schemas.decision_events import ExperimentAlert, LedgerRecord
from tests.webhook_receiver import webhook_receiver

EXAMPLES = PROJECT_ROOT / "schemas" / "examples"


def _promote(**changes: object) -> LedgerRecord:
    record = LedgerRecord.model_validate_json(
        (EXAMPLES / "ledger.record" / "valid" / "promote.json").read_text()
    )
    return record.model_copy(update=changes)


def _samples(metrics: PromoterMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


def test_a_swap_record_counts_the_decision_generation_and_acknowledgements() -> None:
    metrics = PromoterMetrics(evaluate_every_s=30)
    signals = Signals(metrics)
    record = _promote(
        inputs={"acked": ["prod-a"], "ack_s": 0.32}, missing_acks=["candidate-b", "prod-c"]
    )

    signals.recorded(record)
    signals.swapped("promote", 1.4)

    samples = _samples(metrics)
    assert samples[("splitstream_promoter_decisions_total", (("action", "promote"),))] == 1
    assert samples[("splitstream_promoter_generation", ())] == 7
    assert samples[("splitstream_promoter_ack_seconds_count", ())] == 1
    assert samples[("splitstream_promoter_ack_seconds_sum", ())] == 0.32
    assert samples[("splitstream_promoter_missing_acks", ())] == 2
    assert samples[("splitstream_promoter_swap_seconds_count", (("action", "promote"),))] == 1


def test_a_record_without_a_broadcast_leaves_the_acknowledgement_gauges_alone() -> None:
    metrics = PromoterMetrics(evaluate_every_s=30)
    signals = Signals(metrics)
    signals.recorded(_promote(inputs={"ack_s": 0.5}, missing_acks=["prod-a"]))

    signals.recorded(_promote(action="pause", inputs={}, missing_acks=[]))

    samples = _samples(metrics)
    assert samples[("splitstream_promoter_missing_acks", ())] == 1
    assert samples[("splitstream_promoter_decisions_total", (("action", "pause"),))] == 1


def test_an_evaluation_sets_the_split_test_and_the_time_since_the_last_one() -> None:
    now = [1_000.0]
    metrics = PromoterMetrics(evaluate_every_s=30, clock=lambda: now[0])
    signals = Signals(metrics)
    now[0] = 1_100.0
    assert _samples(metrics)[("splitstream_promoter_seconds_since_last_evaluation", ())] == 100

    signals.evaluated("exp-1:m-2", {"srm_p_value": 0.0002}, srm_mismatch=True)
    now[0] = 1_105.0

    samples = _samples(metrics)
    labels = (("experiment_id", "exp-1:m-2"),)
    assert samples[("splitstream_promoter_srm_p_value", labels)] == 0.0002
    assert samples[("splitstream_promoter_srm_mismatch", labels)] == 1
    assert samples[("splitstream_promoter_seconds_since_last_evaluation", ())] == 5
    assert samples[("splitstream_promoter_evaluations_total", ())] == 1
    assert samples[("splitstream_promoter_evaluate_interval_seconds", ())] == 30


def test_decisions_and_alerts_reach_the_webhook_other_events_do_not() -> None:
    metrics = PromoterMetrics(evaluate_every_s=30)
    alert = ExperimentAlert.create(
        experiment_id="exp-1:m-2", kind="drift", message="location drifted", p_value=None
    )
    with webhook_receiver() as receiver:
        notifier = Notifier(
            receiver.url, outcomes=metrics.notifications, delivery=Delivery(backoff_s=0.01)
        )
        signals = Signals(metrics, notifier.start())

        signals.recorded(_promote())
        signals.sent({"event_type": "model.reload", "generation": 7})
        signals.sent(alert.model_dump(mode="json"))
        got = receiver.wait_for(2, timeout_s=10)
        signals.close()

    assert [m["kind"] for m in got] == ["decision", "alert"]
    assert got[1]["event"]["kind"] == "drift"
    samples = _samples(metrics)
    assert samples[("splitstream_promoter_alerts_total", (("kind", "drift"),))] == 1
    assert samples[("splitstream_promoter_notifications_total", (("outcome", "delivered"),))] == 2
    assert datetime.now(UTC) >= alert.occurred_at
