"""Evaluating: the running experiment, or the watch after a promotion, as of a moment.

The promoter's timer (and each trigger from the Faust agent) calls ``evaluate``. It reads
the evidence as of ``now`` (``promoter/evidence.py``), lets the policy decide
(``promoter/decide.py``) and acts: a swap, a ramp step, or an alert, once per experiment
and kind. A wait changes nothing and is not recorded.
"""

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plumbing.model_store import SlotsVersion
from promoter.decide import decide, decide_watch
from promoter.decision import Decision
from promoter.evidence import Window, experiment_stats
from promoter.experiment import ExperimentStats
from promoter.state import Watch
from schemas.decision_events import ExperimentAlert

if TYPE_CHECKING:
    from promoter.service import Promoter

POLICY_ACTOR = {"kind": "policy", "name": "promoter"}


def evaluate(
    promoter: "Promoter", *, trigger: dict[str, Any] | None, now: datetime | None
) -> Decision | None:
    """Decide on the running experiment, or on the watch of the last promotion."""
    if promoter.state.paused:
        return None
    current = promoter.slots.read()
    if current is None or current.slots.best is None:
        return None
    moment = now or datetime.now(UTC)
    if current.slots.holdback is not None:
        return _evaluate_watch(promoter, current, moment)
    if current.slots.candidate is not None:
        return _evaluate_experiment(promoter, current, trigger, moment)
    return None


def _evaluate_experiment(
    promoter: "Promoter", current: SlotsVersion, trigger: dict[str, Any] | None, now: datetime
) -> Decision:
    experiment_id = promoter.experiment_id(current.slots)
    stats = promoter.evidence(Window(experiment_id, now))
    decision = decide(stats, promoter.policy)
    inputs = {"stats": asdict(stats), "trigger": trigger, "evidence_at": now.isoformat()}
    if decision.action in ("promote", "reject"):
        promoter.swap(decision.action, current, POLICY_ACTOR, decision, experiment_id, inputs, now)
    elif decision.action == "ramp" and decision.next_share is not None:
        promoter.shares.change(
            decision.next_share,
            action="ramp",
            actor=POLICY_ACTOR,
            reasons=decision.reasons,
            decision=decision,
            inputs=inputs,
            now=now,
        )
    else:
        _maybe_alert(promoter, current, decision, experiment_id, inputs)
    return decision


def _evaluate_watch(promoter: "Promoter", current: SlotsVersion, now: datetime) -> Decision:
    experiment_id = promoter.experiment_id(current.slots)
    watch = _watch(promoter, current, experiment_id)
    stats = promoter.evidence(Window(experiment_id, now, since=watch.started_at))
    stats = replace(stats.swapped(), started_at=watch.started_at)
    decision = decide_watch(stats, promoter.policy)
    inputs = {
        "stats": asdict(stats),
        "watch_of": current.slots.best,
        "evidence_at": now.isoformat(),
    }
    if decision.action in ("rollback", "end_watch"):
        promoter.swap(decision.action, current, POLICY_ACTOR, decision, experiment_id, inputs, now)
    else:
        _maybe_alert(promoter, current, decision, experiment_id, inputs)
    return decision


def _watch(promoter: "Promoter", current: SlotsVersion, experiment_id: str) -> Watch:
    watch = promoter.state.watch
    if watch is not None and watch.experiment_id == experiment_id:
        return watch
    # The slots hold a watch the ledger does not describe (restored by hand): it
    # started no later than the last record.
    last = promoter.ledger.records[-1].occurred_at if promoter.ledger.records else datetime.now(UTC)
    assert current.slots.best is not None and current.slots.holdback is not None
    return Watch(experiment_id, last, current.slots.best, current.slots.holdback)


def read_evidence(promoter: "Promoter", window: Window) -> ExperimentStats:
    """The evidence of ``window`` from ClickHouse (the promoter's default ``evidence``)."""
    return experiment_stats(
        promoter.clickhouse,
        promoter.settings.clickhouse_database,
        window,
        shares=promoter.state.shares,
        policy=promoter.policy,
    )


def _maybe_alert(
    promoter: "Promoter",
    current: SlotsVersion,
    decision: Decision,
    experiment_id: str,
    inputs: dict[str, Any],
) -> None:
    """An ``experiment.alert`` and a ledger record, once per experiment and kind."""
    kind = decision.alert_kind
    if kind is None or (experiment_id, kind) in promoter.state.alerted:
        return
    srm = decision.statistics.get("srm_p_value")
    alert = ExperimentAlert.create(
        experiment_id=experiment_id,
        kind=kind,
        message="; ".join(decision.reasons)[:2000],
        p_value=float(srm) if kind == "srm" and srm is not None else None,
    )
    promoter.send(alert.model_dump(mode="json"))
    promoter.append(
        action="wait",
        actor=POLICY_ACTOR,
        reasons=decision.reasons,
        experiment_id=experiment_id,
        before=current,
        after=current,
        inputs={**inputs, "alert": kind},
        statistics={**decision.statistics, f"{kind}_alert": True},
        thresholds=decision.thresholds,
    )
