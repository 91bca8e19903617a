"""What each promoter action does to the routing object, as pure functions.

A promotion moves the candidate to best and keeps the old best as ``previous_best``,
so a rollback is one more swap. A rollback restores ``previous_best`` and forgets it,
so a second rollback cannot bounce back to the version just rolled back.

``interrupted_action`` reads them backwards: which one swap turns the slots the ledger
recorded last into the slots S3 holds, the trace a promoter killed between the routing
write and the ledger record leaves (promoter/service.py completes that swap).
"""

from typing import Literal, get_args

from plumbing.model_store import Slots

SwapAction = Literal["promote", "reject", "rollback"]


class TransitionRefusedError(ValueError):
    """The action makes no sense for these slots (e.g. promote with no candidate)."""


def promoted(slots: Slots) -> Slots:
    """best <- candidate, previous_best <- best, candidate emptied."""
    if slots.candidate is None:
        raise TransitionRefusedError("there is no candidate to promote")
    return slots.next(best=slots.candidate, previous_best=slots.best, candidate=None)


def rejected(slots: Slots) -> Slots:
    """The candidate slot emptied; the gateway then routes everything to prod."""
    if slots.candidate is None:
        raise TransitionRefusedError("there is no candidate to reject")
    return slots.next(candidate=None)


def rolled_back(slots: Slots) -> Slots:
    """best <- previous_best; any candidate is dropped with the experiment it belonged to."""
    if slots.previous_best is None:
        raise TransitionRefusedError("there is no previous best version to roll back to")
    return slots.next(best=slots.previous_best, previous_best=None, candidate=None)


TRANSITIONS = {"promote": promoted, "reject": rejected, "rollback": rolled_back}


def apply_action(action: SwapAction, slots: Slots) -> Slots:
    """The slots after ``action``; raises TransitionRefusedError when it cannot apply."""
    return TRANSITIONS[action](slots)


def interrupted_action(recorded: Slots, actual: Slots) -> SwapAction | None:
    """The one swap action that turns ``recorded`` into ``actual``, or None.

    None when no action does, or when several do (then the trace is ambiguous and
    completing a guess could record the wrong decision).
    """
    matches = [a for a in get_args(SwapAction) if _result_of(a, recorded) == actual]
    return matches[0] if len(matches) == 1 else None


def _result_of(action: SwapAction, slots: Slots) -> Slots | None:
    try:
        return apply_action(action, slots)
    except TransitionRefusedError:
        return None
