"""The chaos run's kill schedule and invariants, as pure functions over plain data."""

from collections import Counter

from chaos.broker import BrokerOutage
from chaos.cast import Restart
from chaos.evidence import Served, TopicCopies
from chaos.invariants import (
    duplicates,
    nothing_lost,
    one_prediction_row_per_200,
    only_unavailable_errors,
    recovered_after_broker,
    unavailable_while_broker_down,
    within_deadline,
)
from chaos.load import Answer
from chaos.plan import VICTIMS, kill_schedule

GATEWAY = "http://127.0.0.1:7001"


def _predict(index: int, status: int = 200, **fields: object) -> Answer:
    base: dict[str, object] = {
        "kind": "predict",
        "index": index,
        "sent_at": float(index),
        "waited_s": 0.01,
        "gateway": GATEWAY,
        "status": status,
        "json_body": True,
        "error": None if status < 400 else "reply_timeout",
        "request_id": f"r{index}" if status == 200 else None,
        "price_lakhs": 50.0 if status == 200 else None,
        "model_version": "m1" if status == 200 else None,
    }
    return Answer(**{**base, **fields})  # type: ignore[arg-type]


def _row(price: float = 50.0, version: str = "m1") -> list[Served]:
    return [Served(replied=True, status="ok", price_lakhs=price, model_version=version)]


def test_kills_each_victim_once_in_the_first_70_percent() -> None:
    kills = kill_schedule(60.0)
    assert [k.victim for k in kills] == list(VICTIMS)
    assert all(0 < k.at_s < 42 for k in kills)
    assert [k.at_s for k in kills] == sorted(k.at_s for k in kills)


def test_a_200_needs_exactly_one_row_with_the_same_price_and_version() -> None:
    answers = [_predict(1), _predict(2), _predict(3), _predict(4), _predict(5, status=504)]
    served = {"r1": _row(), "r2": [], "r3": _row(price=51.0), "r4": _row() + _row()}
    verdict = one_prediction_row_per_200(answers, served)
    assert not verdict.holds
    assert "4 answers 200, 1 with one matching row, 3 without" in verdict.counts
    assert one_prediction_row_per_200(answers[:1], served).holds


def test_an_event_in_kafka_but_not_in_clickhouse_is_lost() -> None:
    stored = TopicCopies("t", "requests", Counter({"a": 1, "b": 1}), Counter({"a": 2, "b": 1}))
    lost = TopicCopies("t", "requests", Counter({"a": 1, "b": 1}), Counter({"a": 1}))
    assert nothing_lost([stored], []).holds
    verdict = nothing_lost([lost], [])
    assert not verdict.holds and "1 missing" in verdict.counts and "b" in verdict.counts


def test_accepted_feedback_must_be_stored() -> None:
    fed = Answer("feedback", 1, 1.0, 0.01, GATEWAY, 202, True, None, "r1", event_id="f1")
    empty = TopicCopies("fb", "feedback", Counter(), Counter())
    assert not nothing_lost([empty], [fed]).holds
    stored = TopicCopies("fb", "feedback", Counter({"f1": 1}), Counter({"f1": 1}))
    assert nothing_lost([stored], [fed]).holds


def test_duplicates_are_counted_by_kind() -> None:
    copies = [TopicCopies("t", "replies", Counter({"a": 2, "b": 1}), Counter({"a": 3}))]
    counted = duplicates(copies, Counter({"r1": 2, "r2": 1}))
    assert list(counted.values()) == [1, 2, 1]


def test_only_json_503_504_or_a_connection_dropped_by_a_gateway_kill() -> None:
    killed = Restart("gateway-2", 9, GATEWAY, killed_at=10.2, started_at=12.0, ready_at=15.0)
    fine = [
        _predict(1, status=503),
        _predict(2, status=504),
        _predict(10, status=0, json_body=False, error="ServerDisconnectedError"),
        _predict(11, sent_at=10.25, status=0, json_body=False, error="reset in the backlog"),
    ]
    assert only_unavailable_errors(fine, [killed]).holds
    for wrong in (
        _predict(3, status=500),
        _predict(4, status=503, json_body=False),
        _predict(30, status=0, json_body=False, error="reset long after the kill"),
    ):
        assert not only_unavailable_errors([wrong], [killed]).holds, wrong


def test_a_client_waiting_past_deadline_and_allowance_is_late() -> None:
    assert within_deadline([_predict(1, waited_s=2.9)], reply_timeout_s=2.0).holds
    assert not within_deadline([_predict(1, waited_s=3.1)], reply_timeout_s=2.0).holds


def _outage(answers: list[Answer]) -> BrokerOutage:
    return BrokerOutage(answers, killed_at=10.0, started_at=15.0, listening_at=20.0, ready_at=22.0)


def test_predictions_while_the_broker_is_down_must_be_503() -> None:
    down = [_predict(i, status=503) for i in range(12, 20)]
    assert unavailable_while_broker_down(_outage([_predict(11, status=504), *down])).holds
    assert not unavailable_while_broker_down(_outage([*down, _predict(19, status=504)])).holds
    assert not unavailable_while_broker_down(_outage([_predict(5)])).holds  # nothing was tested


def test_recovery_needs_every_prediction_200_for_the_settle_time() -> None:
    back = [_predict(i) for i in range(22, 30)]
    assert recovered_after_broker(_outage([_predict(21, status=504), *back]), 0).holds
    assert not recovered_after_broker(_outage([*back, _predict(29, status=504)]), 0).holds
    assert not recovered_after_broker(_outage(back), gateway_restarts=1).holds
