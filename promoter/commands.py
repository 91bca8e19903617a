"""Operators' commands, executed by the active promoter through the same swaps and records.

``promote``, ``reject`` and ``rollback`` take the swap a policy decision takes; ``pause``
and ``resume`` stop and restart automatic decisions; ``split`` sets the candidate share
(``PUT /v1/admin/split`` and ``splitstream split`` come here). Each answers with one
``promoter.command_result``, and each that acts leaves a ledger record naming the
operator.
"""

from dataclasses import asdict

from plumbing.model_store import SlotsVersion
from promoter.execution import Outcome
from promoter.service import Promoter
from schemas.decision_events import PromoterCommand, PromoterCommandResult


def execute(promoter: Promoter, command: PromoterCommand) -> PromoterCommandResult:
    """Run an operator's command, send its answer, and return it."""
    current = promoter.slots.read()
    actor = command.actor.model_dump()
    if current is None:
        outcome = Outcome("refused", "no model was ever published", None, None)
    elif (
        command.expected_generation is not None
        and command.expected_generation != current.slots.generation
    ):
        outcome = Outcome(
            "conflict",
            f"the slots moved on: expected generation {command.expected_generation}, "
            f"found {current.slots.generation}",
            None,
            current,
        )
    elif command.action in ("pause", "resume"):
        outcome = _pause_or_resume(promoter, command, current, actor)
    elif command.action == "split":
        outcome = _split(promoter, command, current, actor)
    else:
        experiment_id = promoter.experiment_id(current.slots)
        inputs = {"command_id": str(command.command_id), "reason": command.reason}
        outcome = promoter.swap(command.action, current, actor, None, experiment_id, inputs)  # type: ignore[arg-type]  # pause/resume/split handled above
        if outcome.record is not None:
            outcome = Outcome(outcome.outcome, command.reason, outcome.record, outcome.slots)
    result = _result(command, outcome, current)
    promoter.answer(result.model_dump(mode="json"))
    return result


def _pause_or_resume(
    promoter: Promoter, command: PromoterCommand, current: SlotsVersion, actor: dict[str, str]
) -> Outcome:
    paused = command.action == "pause"
    if promoter.state.paused == paused:
        return Outcome("refused", f"already {'paused' if paused else 'running'}", None, current)
    record = promoter.append(
        action=command.action,
        actor=actor,
        reasons=[command.reason],
        experiment_id=promoter.experiment_id(current.slots),
        before=current,
        after=current,
        inputs={"command_id": str(command.command_id)},
    )
    return Outcome("done", command.reason, record, current)


def _split(
    promoter: Promoter, command: PromoterCommand, current: SlotsVersion, actor: dict[str, str]
) -> Outcome:
    share = command.candidate_share
    if share is None:
        return Outcome("refused", "a split command needs candidate_share", None, current)
    record = promoter.shares.change(
        share,
        action="split",
        actor=actor,
        reasons=[command.reason],
        inputs={"command_id": str(command.command_id)},
    )
    return Outcome("done", "; ".join(record.reasons), record, current)


def _result(
    command: PromoterCommand, outcome: Outcome, fallback: SlotsVersion | None
) -> PromoterCommandResult:
    slots = outcome.slots or fallback
    return PromoterCommandResult.create(
        command_id=command.command_id,
        action=command.action,
        outcome=outcome.outcome,
        message=outcome.message[:2000] or outcome.outcome,
        ledger_sequence=outcome.record.sequence if outcome.record else None,
        slots=asdict(slots.slots)
        if slots
        else {"best": None, "candidate": None, "previous_best": None, "generation": 0},
    )
