"""What each promoter action does to the routing object, as pure functions.

A promotion moves the candidate to best and keeps the old best as ``previous_best``;
with a holdback it also puts the old best back in the candidate slot, where it keeps a
small share of traffic for the watch (``Slots.holdback``). The watch ends with a
rollback (best <- previous best) or with ``end_watch`` (the holdback leaves the candidate
slot). A candidate published during the watch waits in the ledger (``queued``) and takes
the candidate slot when the watch ends, either way.

A rollback restores ``previous_best`` and forgets it, so a second rollback cannot bounce
back to the version just rolled back.

``interrupted_action`` reads them backwards: which one swap turns the slots the ledger
recorded last into the slots S3 holds, the trace a promoter killed between the routing
write and the ledger record leaves (promoter/recovery.py completes that swap).
"""

from typing import Literal, get_args

from plumbing.model_store import Slots
from promoter.errors import TransitionRefusedError

SwapAction = Literal["promote", "reject", "rollback", "end_watch"]


def _no_watch(slots: Slots, action: str) -> None:
    if slots.holdback is not None:
        raise TransitionRefusedError(
            f"cannot {action} during the watch: the candidate slot holds the previous best "
            f"{slots.holdback} for the watch; roll back, or wait for the watch to end"
        )


def promoted(slots: Slots, *, holdback: bool = True) -> Slots:
    """best <- candidate, previous_best <- best, candidate <- old best (holdback) or empty."""
    if slots.candidate is None:
        raise TransitionRefusedError("there is no candidate to promote")
    _no_watch(slots, "promote")
    kept = slots.best if holdback else None
    return slots.next(best=slots.candidate, previous_best=slots.best, candidate=kept)


def rejected(slots: Slots) -> Slots:
    """The candidate slot emptied; the gateway then routes everything to prod."""
    if slots.candidate is None:
        raise TransitionRefusedError("there is no candidate to reject")
    _no_watch(slots, "reject")
    return slots.next(candidate=None)


def rolled_back(slots: Slots, *, queued: str | None = None) -> Slots:
    """best <- previous_best; the candidate slot gets the queued candidate, or is emptied
    (a candidate in it is dropped with the experiment it belonged to)."""
    if slots.previous_best is None:
        raise TransitionRefusedError("there is no previous best version to roll back to")
    return slots.next(best=slots.previous_best, previous_best=None, candidate=queued)


def watch_ended(slots: Slots, *, queued: str | None = None) -> Slots:
    """The holdback leaves the candidate slot; a queued candidate takes it, if any."""
    if slots.holdback is None:
        raise TransitionRefusedError("there is no watch to end")
    return slots.next(candidate=queued)


def apply_action(
    action: SwapAction, slots: Slots, *, holdback: bool = True, queued: str | None = None
) -> Slots:
    """The slots after ``action``; raises TransitionRefusedError when it cannot apply.

    ``holdback``: a promotion keeps the old best in the candidate slot for the watch (as
    the default policy does; a policy with ``holdback_share = 0`` promotes without).
    ``queued``: the candidate waiting for the watch to end (rollback, end_watch).
    """
    if action == "promote":
        return promoted(slots, holdback=holdback)
    if action == "reject":
        return rejected(slots)
    if action == "rollback":
        return rolled_back(slots, queued=queued)
    return watch_ended(slots, queued=queued)


def interrupted_action(
    recorded: Slots, actual: Slots, *, queued: str | None = None
) -> SwapAction | None:
    """The one swap action that turns ``recorded`` into ``actual``, or None.

    None when no action does, or when several do (then the trace is ambiguous and
    completing a guess could record the wrong decision).
    """
    matches = {
        action
        for action in get_args(SwapAction)
        for holdback in (False, True)
        if _result_of(action, recorded, holdback=holdback, queued=queued) == actual
    }
    return matches.pop() if len(matches) == 1 else None


def _result_of(
    action: SwapAction, slots: Slots, *, holdback: bool, queued: str | None
) -> Slots | None:
    try:
        return apply_action(action, slots, holdback=holdback, queued=queued)
    except TransitionRefusedError:
        return None
