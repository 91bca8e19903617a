"""Recording the trainer's publishes: the first model, a new candidate, a queued one.

The trainer writes the routing object itself (a candidate takes the slot at once; during
a watch it is queued) and announces it with ``model.candidate_published``; the promoter
records each version once in the ledger. A candidate that takes the slot starts a new
experiment at its starting share; one that replaces a candidate still under experiment
ends that experiment, and the record says so.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from plumbing.model_store import Slots
from schemas.decision_events import LedgerRecord

if TYPE_CHECKING:
    from promoter.service import Promoter

TRAINER_ACTOR = {"kind": "trainer", "name": "trainer"}


def record_publish(
    promoter: "Promoter", model_version: str, slot: str, *, now: datetime | None = None
) -> LedgerRecord | None:
    """Record that the trainer placed ``model_version`` in ``slot`` (or queued it)."""
    current = promoter.slots.read()
    if current is None or _already_recorded(promoter, model_version):
        return None
    before = promoter.last_slots_version()
    first = before is None or before.slots.best is None
    reasons = [f"the trainer placed {model_version} in the {slot} slot"]
    inputs: dict[str, Any] = {
        "model_version": model_version,
        "slot": slot,
        "evidence_at": (now or datetime.now(UTC)).isoformat(),
    }
    if slot == "queued":
        reasons = [
            f"the trainer published {model_version} during the watch: it waits in the "
            "queue and takes the candidate slot when the watch ends"
        ]
        if promoter.state.queued:
            reasons.append(f"it replaces {promoter.state.queued}, queued before it")
        inputs["queued"] = True
    elif before is not None and _replaced_candidate(before.slots, current.slots):
        ended = promoter.experiment_id(before.slots)
        reasons.append(
            f"experiment {ended} ends undecided: its candidate {before.slots.candidate} "
            "was replaced before the policy decided"
        )
        inputs["ended_experiment"] = ended
    if current.slots.candidate == model_version and current.slots.holdback is None:
        inputs["share_change"] = promoter.shares.start_experiment(now)
    return promoter.append(
        action="bootstrap" if first else "publish",
        actor=TRAINER_ACTOR,
        reasons=reasons,
        experiment_id=promoter.experiment_id(current.slots),
        before=before,
        after=current,
        inputs={k: v for k, v in inputs.items() if v is not None},
    )


def _already_recorded(promoter: "Promoter", model_version: str) -> bool:
    return any(
        r.action in ("bootstrap", "publish") and r.inputs.get("model_version") == model_version
        for r in promoter.ledger.records
    )


def _replaced_candidate(before: Slots, after: Slots) -> bool:
    """A new candidate took the slot from another one still under experiment."""
    return (
        before.candidate is not None
        and before.holdback is None
        and after.candidate is not None
        and after.candidate != before.candidate
    )
