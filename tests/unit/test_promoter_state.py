"""What the ledger says beyond the slots: the watch, the queue, the shares, the spans."""

from datetime import UTC, datetime, timedelta
from typing import Any

from plumbing.model_store import Slots
from pricing.split import experiment_of
from promoter.backtest import moments, spans
from promoter.ledger import slots_json
from promoter.shares import ShareHistory, share_change, share_history
from promoter.state import PromoterState
from promoter.transitions import apply_action
from schemas.decision_events import LedgerRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BEST = Slots("v1", None, None, 1)
RUNNING = Slots("v1", "v2", None, 2)
WATCHING = apply_action("promote", RUNNING)  # v2 best, v1 held back


def record(
    sequence: int,
    action: str,
    before: Slots,
    after: Slots,
    *,
    minutes: float,
    inputs: dict[str, Any] | None = None,
    actor: str = "policy",
) -> LedgerRecord:
    return LedgerRecord.create(
        sequence=sequence,
        experiment_id=experiment_of("exp", after if after.candidate else before),
        action=action,
        actor={"kind": actor, "name": "x"},
        reasons=["r"],
        inputs=inputs or {},
        statistics={},
        thresholds={},
        slots_before=slots_json(before),
        slots_after=slots_json(after),
        etag_before=None,
        etag_after=f'"e{sequence}"',
        missing_acks=[],
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ledger() -> list[LedgerRecord]:
    """Bootstrap, an experiment ramped 5% -> 20%, a promotion with a 10% holdback, a
    candidate queued during the watch, the watch's end starting the queued one."""
    ended = apply_action("end_watch", WATCHING, queued="v3")
    return [
        record(0, "bootstrap", Slots(None), BEST, minutes=0, actor="trainer"),
        record(
            1,
            "publish",
            BEST,
            RUNNING,
            minutes=1,
            actor="trainer",
            inputs={"model_version": "v2", "share_change": share_change(0.2, 0.05, at(1))},
        ),
        record(
            2,
            "ramp",
            RUNNING,
            RUNNING,
            minutes=60,
            inputs={"share_change": share_change(0.05, 0.2, at(60))},
        ),
        record(
            3,
            "promote",
            RUNNING,
            WATCHING,
            minutes=90,
            inputs={
                "share_change": share_change(0.2, 0.1, at(90)),
                "watch": {
                    "experiment_id": experiment_of("exp", WATCHING),
                    "started_at": at(90).isoformat(),
                },
            },
        ),
        record(
            4,
            "publish",
            WATCHING,
            WATCHING,
            minutes=100,
            actor="trainer",
            inputs={"model_version": "v3", "queued": True},
        ),
        record(5, "wait", WATCHING, WATCHING, minutes=101, inputs={"alert": "srm"}),
        record(
            6,
            "end_watch",
            WATCHING,
            ended,
            minutes=120,
            inputs={"share_change": share_change(0.1, 0.05, at(120))},
        ),
    ]


def test_the_state_follows_the_watch_the_queue_and_the_alerts() -> None:
    records = ledger()
    during = PromoterState.from_ledger(records[:6], default_share=0.2)
    assert during.watch is not None
    assert during.watch.experiment_id == "exp:watch-g3:v1"
    assert (during.watch.new_best, during.watch.holdback) == ("v2", "v1")
    assert during.watch.started_at == at(90)
    assert during.queued == "v3"
    assert ("exp:watch-g3:v1", "srm") in during.alerted
    after = PromoterState.from_ledger(records, default_share=0.2)
    assert after.watch is None and after.queued is None
    assert after.current_share == 0.05


def test_the_operator_share_is_the_last_split_an_operator_set() -> None:
    records = ledger()
    state = PromoterState.from_ledger(records, default_share=0.2)
    assert state.operator_share == 0.2  # no split record: the settings' share
    split = record(
        7,
        "split",
        BEST,
        BEST,
        minutes=130,
        actor="operator",
        inputs={"share_change": share_change(0.05, 0.3, at(130))},
    )
    state.observe(split)
    assert state.operator_share == 0.3 and state.current_share == 0.3


def test_the_share_history_answers_for_any_moment() -> None:
    history = share_history(ledger(), default_share=0.2)
    assert [c.share for c in history.changes] == [0.05, 0.2, 0.1, 0.05]
    assert history.share_at(at(0.5)) == 0.2
    assert history.share_at(at(30)) == 0.05
    assert history.share_at(at(95)) == 0.1
    assert history.since(at(95), start=at(1)) == at(90)
    assert history.since(at(30), start=at(1)) == at(1)
    earlier = history.until(at(61))
    assert [c.share for c in earlier.changes] == [0.05, 0.2]
    assert [earlier.share_of_period(i) for i in range(3)] == [0.2, 0.05, 0.2]
    assert ShareHistory(0.3).share_at(at(5)) == 0.3


def test_spans_are_the_experiments_and_watches_with_how_each_ended() -> None:
    found = spans(ledger(), prefix="exp")
    assert [(s.experiment_id, s.kind, s.ended_by) for s in found] == [
        ("exp:v2", "experiment", "promote"),
        ("exp:watch-g3:v1", "watch", "end_watch"),
        ("exp:v3", "experiment", None),
    ]
    experiment, watch, running = found
    assert (experiment.started_at, experiment.ended_at) == (at(1), at(90))
    assert experiment.ended_actor == "policy:x"
    assert (watch.started_at, watch.ended_at) == (at(90), at(120))
    assert running.ended_at is None


def test_moments_run_every_interval_to_the_end_included() -> None:
    experiment = spans(ledger(), prefix="exp")[0]
    every = timedelta(minutes=20)
    found = list(moments(experiment, every=every, until=at(1_000)))
    assert found == [at(21), at(41), at(61), at(81), at(90)]
    running = spans(ledger(), prefix="exp")[2]
    assert list(moments(running, every=every, until=at(150))) == [at(140), at(150)]
