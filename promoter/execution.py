"""Executing a decision: one swap of the routing object and everything that follows it.

A policy decision (``promoter/evaluation.py``) or an operator's command
(``promoter/commands.py``) asks for a swap. It is one conditional write of the routing
object, then the reload broadcast (``promoter/swap.py``), the candidate share the swap
calls for, the MLflow aliases, the ``model.*`` event and, last, the ledger record. A
promoter killed before that record leaves S3 one generation ahead of the ledger, which
``promoter/recovery.py`` completes with ``complete`` below.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plumbing.errors import SlotConflictError
from plumbing.failpoints import failpoint
from plumbing.model_store import Slots, SlotsVersion
from promoter.decision import Decision
from promoter.errors import TransitionRefusedError
from promoter.transitions import SwapAction, apply_action
from schemas.decision_events import LedgerRecord
from schemas.model_events import ModelPromoted, ModelRejected, ModelRolledBack

if TYPE_CHECKING:
    from promoter.service import Promoter


@dataclass(frozen=True)
class Outcome:
    """What one swap attempt ended as: the ledger record, or why there is none."""

    outcome: str  # done | conflict | refused
    message: str
    record: LedgerRecord | None
    slots: SlotsVersion | None


def swap(
    promoter: "Promoter",
    action: SwapAction,
    before: SlotsVersion,
    actor: dict[str, str],
    decision: Decision | None,
    experiment_id: str | None,
    inputs: dict[str, Any],
    now: datetime | None,
) -> Outcome:
    """One conditional write from ``before``, then ``complete``; refused or lost races
    change nothing."""
    try:
        after_slots = apply_action(
            action,
            before.slots,
            holdback=promoter.policy.holdback_share > 0,
            queued=promoter.state.queued,
        )
        after = promoter.slot_swap.write(before, after_slots)
    except TransitionRefusedError as error:
        return Outcome("refused", str(error), None, before)
    except SlotConflictError as error:
        return Outcome("conflict", f"another swap won: {error}", None, promoter.slots.read())
    failpoint(promoter.settings, "promoter.after_routing_write")
    reasons = decision.reasons if decision else [f"{actor['name']} asked to {action}"]
    record = complete(
        promoter,
        action,
        before,
        after,
        actor=actor,
        reasons=reasons,
        experiment_id=experiment_id,
        inputs=inputs,
        decision=decision,
        now=now,
    )
    return Outcome("done", f"{action}: generation {after.slots.generation}", record, after)


def complete(
    promoter: "Promoter",
    action: SwapAction,
    before: SlotsVersion,
    after: SlotsVersion,
    *,
    actor: dict[str, str],
    reasons: list[str],
    experiment_id: str | None,
    inputs: dict[str, Any],
    decision: Decision | None = None,
    now: datetime | None = None,
) -> LedgerRecord:
    """Everything after the routing write: broadcast, share, aliases, event, record."""
    reason = f"{action}: {'; '.join(reasons)}"[:2000]
    broadcast = promoter.slot_swap.broadcast(after, reason=reason)
    extra = _after_swap(promoter, action, before.slots, after.slots, now)
    promoter.mirror_aliases(after.slots)
    _announce(promoter, action, before, after, actor, reasons)
    return promoter.append(
        action=action,
        actor=actor,
        reasons=[*reasons, *extra.pop("notes", [])],
        experiment_id=experiment_id,
        before=before,
        after=after,
        inputs={**inputs, **extra, "acked": list(broadcast.acked), "ack_s": broadcast.seconds},
        statistics=decision.statistics if decision else {},
        thresholds=decision.thresholds if decision else {},
        missing_acks=broadcast.missing,
    )


def _after_swap(
    promoter: "Promoter", action: SwapAction, before: Slots, after: Slots, now: datetime | None
) -> dict[str, Any]:
    """The share a swap calls for, and what the record must say about the watch."""
    policy = promoter.policy
    extra: dict[str, Any] = {"notes": []}
    if action == "promote" and after.holdback is not None:
        change = promoter.shares.set_for_swap(policy.holdback_share, now)
        started = datetime.fromisoformat(change["effective_at"]) if change else now
        extra["share_change"] = change
        extra["watch"] = {
            "experiment_id": promoter.experiment_id(after),
            "started_at": (started or datetime.now(UTC)).isoformat(),
            "holdback_share": policy.holdback_share,
        }
        extra["notes"].append(
            f"watch: {after.holdback} keeps {policy.holdback_share:.0%} of the traffic "
            f"beside {after.best} until the watch ends (at most "
            f"{policy.watch_max_hours:g} h)"
        )
    elif after.candidate is not None and after.candidate != before.candidate:
        extra["share_change"] = promoter.shares.start_experiment(now)
        extra["started_candidate"] = after.candidate
        extra["notes"].append(
            f"{after.candidate}, queued during the watch, takes the candidate slot: "
            f"experiment {promoter.experiment_id(after)} starts"
        )
    if extra.get("share_change") is None:
        extra.pop("share_change", None)
    return extra


def _announce(
    promoter: "Promoter",
    action: SwapAction,
    before: SlotsVersion,
    after: SlotsVersion,
    actor: dict[str, str],
    reasons: list[str],
) -> None:
    common = {"generation": after.slots.generation, "actor": actor}
    event: ModelPromoted | ModelRejected | ModelRolledBack
    if action == "promote":
        event = ModelPromoted.create(
            model_version=after.slots.best, previous_best=before.slots.best, **common
        )
    elif action == "reject":
        event = ModelRejected.create(
            model_version=before.slots.candidate, reasons=reasons, **common
        )
    elif action == "rollback":
        event = ModelRolledBack.create(
            model_version=after.slots.best,
            from_version=before.slots.best,
            reasons=reasons,
            **common,
        )
    else:
        return  # the end of a watch changes no version's fate: the reload says enough
    promoter.send(event.model_dump(mode="json"))
