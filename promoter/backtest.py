"""The point-in-time dry run: what a proposed policy would have decided, and when.

The ledger says which experiments ran (and which watches), from when to when, and how
each ended. For each, a proposed policy is evaluated at every evaluation interval from
its start to its end, on the evidence that existed at that moment and no later: every
table cut at the moment (``promoter/evidence.py``), the shares as the ledger had them
then. The first decision that is not a wait, and its moment, is what the policy would
have done. The recorded traffic cannot be re-routed: a proposed ramp is judged on the
shares that were actually used.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from plumbing.clickhouse import ClickHouse
from plumbing.model_store import Slots
from pricing.split import experiment_of
from promoter.decide import decide, decide_watch
from promoter.decision import Decision
from promoter.evidence import Window, experiment_stats
from promoter.policy import Policy
from promoter.shares import ShareHistory, share_history
from schemas.decision_events import LedgerRecord

#: Actions that end an experiment or a watch.
ENDINGS = ("promote", "reject", "rollback", "end_watch", "restore")


@dataclass(frozen=True)
class Span:
    """One experiment (or watch) as the ledger recorded it."""

    experiment_id: str
    kind: Literal["experiment", "watch"]
    started_at: datetime
    ended_at: datetime | None
    ended_by: str | None  # the recorded action that ended it, "replaced", or None (running)
    ended_actor: str | None = None  # "kind:name" of that record


@dataclass(frozen=True)
class FirstDecision:
    """A policy's first decision in a span other than waiting, or None if it only waited."""

    action: str | None
    at: datetime | None
    reasons: list[str]
    evaluations: int


def spans(records: Sequence[LedgerRecord], *, prefix: str) -> list[Span]:
    """The experiments and watches of the ledger, in order, with their start and end."""
    found: list[Span] = []
    running: Span | None = None
    for record in records:
        after = Slots(**record.slots_after.model_dump())
        now_running = experiment_of(prefix, after) if after.candidate is not None else None
        if running is not None and now_running != running.experiment_id:
            ended_by = record.action if record.action in ENDINGS else "replaced"
            actor = f"{record.actor.kind}:{record.actor.name}"
            found.append(
                replace(running, ended_at=moment_of(record), ended_by=ended_by, ended_actor=actor)
            )
            running = None
        if now_running is not None and running is None:
            kind: Literal["experiment", "watch"] = (
                "watch" if after.holdback is not None else "experiment"
            )
            running = Span(now_running, kind, _started(record, kind), None, None)
    if running is not None:
        found.append(running)
    return found


def _started(record: LedgerRecord, kind: str) -> datetime:
    watch = record.inputs.get("watch")
    if kind == "watch" and isinstance(watch, dict) and "started_at" in watch:
        return datetime.fromisoformat(str(watch["started_at"]))
    return moment_of(record)


def moment_of(record: LedgerRecord) -> datetime:
    """The moment of the evidence a record rests on (``inputs.evidence_at``); the record's
    own time when it has none (an operator's command). A swap's record is written after
    the reload acknowledgements, seconds after the evidence was read."""
    evidence_at = record.inputs.get("evidence_at")
    if isinstance(evidence_at, str):
        try:
            return datetime.fromisoformat(evidence_at)
        except ValueError:
            pass
    return record.occurred_at


def moments(span: Span, *, every: timedelta, until: datetime) -> Iterator[datetime]:
    """Every evaluation from one interval after the start to the end (the end included)."""
    end = min(span.ended_at or until, until)
    moment = span.started_at + every
    while moment < end:
        yield moment
        moment += every
    yield end


def first_decision(
    span: Span,
    policy: Policy,
    *,
    clickhouse: ClickHouse,
    database: str,
    history: ShareHistory,
    every: timedelta,
    until: datetime,
) -> FirstDecision:
    """Evaluate ``policy`` at every moment of ``span`` until it decides something."""
    evaluations = 0
    for moment in moments(span, every=every, until=until):
        evaluations += 1
        decision = _evaluate(span, policy, moment, clickhouse, database, history)
        if decision.action != "wait":
            return FirstDecision(decision.action, moment, decision.reasons, evaluations)
    return FirstDecision(None, None, [], evaluations)


def _evaluate(
    span: Span,
    policy: Policy,
    moment: datetime,
    clickhouse: ClickHouse,
    database: str,
    history: ShareHistory,
) -> Decision:
    if span.kind == "watch":
        window = Window(span.experiment_id, moment, since=span.started_at)
        stats = experiment_stats(clickhouse, database, window, shares=history, policy=policy)
        return decide_watch(replace(stats.swapped(), started_at=span.started_at), policy)
    window = Window(span.experiment_id, moment)
    stats = experiment_stats(clickhouse, database, window, shares=history, policy=policy)
    return decide(stats, policy)


@dataclass(frozen=True)
class BacktestRow:
    """One experiment: how it ended in the ledger, and each policy's first decision."""

    span: Span
    decisions: dict[str, FirstDecision]


def backtest(
    records: Sequence[LedgerRecord],
    policies: dict[str, Policy],
    *,
    clickhouse: ClickHouse,
    database: str,
    prefix: str,
    default_share: float,
    every: timedelta,
    until: datetime,
) -> list[BacktestRow]:
    """Every span of the ledger, each policy evaluated on it point in time."""
    history = share_history(records, default_share=default_share)
    return [
        BacktestRow(
            span,
            {
                name: first_decision(
                    span,
                    policy,
                    clickhouse=clickhouse,
                    database=database,
                    history=history,
                    every=every,
                    until=until,
                )
                for name, policy in policies.items()
            },
        )
        for span in spans(records, prefix=prefix)
    ]
