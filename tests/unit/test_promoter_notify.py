"""Webhook notifications: what is said, and how it is delivered (a local receiver)."""

import json
import time

from prometheus_client import CollectorRegistry, Counter

from plumbing.settings import PROJECT_ROOT
from promoter.notify import (
    Delivery,
    Notifier,
    alert_message,
    alert_text,
    decision_message,
    decision_text,
)
from schemas.decision_events import ExperimentAlert, LedgerRecord
from tests.webhook_receiver import webhook_receiver

EXAMPLES = PROJECT_ROOT / "schemas" / "examples"
FAST = Delivery(max_attempts=4, backoff_s=0.01, backoff_max_s=0.05, timeout_s=2.0)


def _record(name: str = "promote") -> LedgerRecord:
    return LedgerRecord.model_validate_json(
        (EXAMPLES / "ledger.record" / "valid" / f"{name}.json").read_text()
    )


def _alert() -> ExperimentAlert:
    return ExperimentAlert.model_validate_json(
        (EXAMPLES / "experiment.alert" / "valid" / "srm.json").read_text()
    )


def _outcomes() -> Counter:
    return Counter("n", "outcomes", ["outcome"], registry=CollectorRegistry())


def _count(counter: Counter, outcome: str) -> float:
    return counter.labels(outcome)._value.get()


def test_a_decision_reads_as_one_line_with_what_who_and_why() -> None:
    record = _record()

    text = decision_text(record)

    assert text.startswith(f"Splitstream decision #{record.sequence}")
    assert f"promote {record.slots_after.best} (was best: {record.slots_before.best})" in text
    assert f"generation {record.slots_after.generation}" in text
    assert f"by {record.actor.kind}/{record.actor.name}" in text
    assert record.reasons[0] in text


def test_messages_are_slack_compatible_json_carrying_the_event() -> None:
    record, alert = _record(), _alert()

    decision, raised = decision_message(record), alert_message(alert)

    assert decision["text"] == decision_text(record) and decision["kind"] == "decision"
    assert decision["event"] == json.loads(record.model_dump_json())
    assert raised["text"] == alert_text(alert) and raised["kind"] == "alert"
    assert "(srm)" in raised["text"] and "p = 1e-05" in raised["text"]
    json.dumps(decision), json.dumps(raised)  # plain JSON all through


def test_messages_are_posted_in_order() -> None:
    outcomes = _outcomes()
    with webhook_receiver() as receiver:
        notifier = Notifier(receiver.url, outcomes=outcomes, delivery=FAST).start()
        notifier.notify(decision_message(_record()))
        notifier.notify(alert_message(_alert()))

        got = receiver.wait_for(2, timeout_s=10)
        notifier.stop()

    assert [m["kind"] for m in got] == ["decision", "alert"]
    assert _count(outcomes, "delivered") == 2


def test_a_failing_receiver_is_tried_again_with_growing_pauses() -> None:
    pauses: list[float] = []
    outcomes = _outcomes()
    with webhook_receiver(answers=[503, 500, 429]) as receiver:
        notifier = Notifier(
            receiver.url,
            outcomes=outcomes,
            delivery=FAST,
            sleep=lambda s: (pauses.append(s), time.sleep(s)),
        ).start()
        notifier.notify(alert_message(_alert()))

        got = receiver.wait_for(1, timeout_s=10)
        notifier.stop()

    assert len(got) == 1 and receiver.attempts == 4
    assert pauses == [0.01, 0.02, 0.04]
    assert _count(outcomes, "delivered") == 1


def test_a_receiver_that_refuses_is_not_asked_again_and_the_next_message_goes() -> None:
    outcomes = _outcomes()
    with webhook_receiver(answers=[400]) as receiver:
        notifier = Notifier(receiver.url, outcomes=outcomes, delivery=FAST).start()
        notifier.notify(decision_message(_record()))
        notifier.notify(decision_message(_record("bootstrap")))

        got = receiver.wait_for(1, timeout_s=10)
        notifier.stop()

    assert receiver.attempts == 2
    assert [m["event"]["action"] for m in got] == ["bootstrap"]
    assert (_count(outcomes, "failed"), _count(outcomes, "delivered")) == (1, 1)


def test_an_unreachable_receiver_fails_after_every_attempt() -> None:
    outcomes = _outcomes()
    with webhook_receiver() as receiver:
        url = receiver.url
    notifier = Notifier(url, outcomes=outcomes, delivery=FAST).start()  # nobody listens now

    notifier.notify(alert_message(_alert()))
    notifier.stop()

    assert _count(outcomes, "failed") == 1


def test_notify_never_waits_for_a_slow_receiver_and_a_full_queue_drops() -> None:
    outcomes = _outcomes()
    small = Delivery(max_attempts=1, timeout_s=5.0, queue_size=2)
    with webhook_receiver(hold_s=1.0) as receiver:
        notifier = Notifier(receiver.url, outcomes=outcomes, delivery=small).start()

        started = time.perf_counter()
        for _ in range(10):
            notifier.notify(alert_message(_alert()))
        took_s = time.perf_counter() - started

        notifier.stop(timeout_s=10)

    assert took_s < 0.1
    dropped = _count(outcomes, "dropped")
    assert 7 <= dropped <= 8  # 10 sent; the queue held 2 and the thread had taken 0 or 1
    assert _count(outcomes, "delivered") == 10 - dropped
