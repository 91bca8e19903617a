"""Admin endpoints (bearer token): the split, and the operator's promoter commands."""

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends

from clients.promoter_commands import send_command
from gateway.deps import GatewayDep, require_admin
from gateway.errors import CommandConflictError
from gateway.routes.info import experiment_of
from gateway.schemas import ERRORS, CommandIn, CommandOut, ExperimentOut, SplitIn
from schemas.decision_events import PromoterCommandResult

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.put("/split", response_model=ExperimentOut, responses=ERRORS)
async def put_split(body: SplitIn, gateway: GatewayDep) -> ExperimentOut:
    """Set the candidate share (0 to 1): a decision like any other, so it goes through
    the active promoter, which stores it in S3 (every gateway instance follows) and
    records it in the ledger with the operator, the reason, and the share before and after.

    Needs ``Authorization: Bearer <SPLITSTREAM_ADMIN_TOKEN>``; 401 without it, 503
    when no admin token is configured or no promoter answered, 409 when the promoter
    refused (no model published yet).
    """
    result = await _send(
        gateway,
        action="split",
        operator=body.operator,
        reason=body.reason,
        candidate_share=body.candidate_share,
    )
    if result.outcome != "done":
        raise CommandConflictError(f"{result.outcome}: {result.message}")
    return experiment_of(await gateway.routing.refresh())


@router.post("/{action}", response_model=CommandOut, responses=ERRORS)
async def post_command(
    action: Literal["promote", "reject", "rollback", "pause", "resume"],
    body: CommandIn,
    gateway: GatewayDep,
) -> CommandOut:
    """Ask the active promoter to promote, reject, roll back, pause or resume.

    The promoter runs it through the same swap and ledger as its own decisions, with
    ``operator`` as the actor. 409 when it did not act (the slots moved on since
    ``expected_generation``, or there is nothing to act on); 503 when no promoter
    answered within ``promoter_command_timeout_s``.
    """
    result = await _send(
        gateway,
        action=action,
        operator=body.operator,
        reason=body.reason,
        expected_generation=body.expected_generation,
    )
    if result.outcome != "done":
        raise CommandConflictError(f"{result.outcome}: {result.message}")
    await gateway.routing.refresh()
    return CommandOut.model_validate(result.model_dump(mode="json"))


async def _send(gateway: GatewayDep, **command: Any) -> PromoterCommandResult:
    """One command to the active promoter, awaited off the event loop.

    Raises:
        PromoterUnavailableError: no promoter answered (the error handler answers 503).
    """
    return await asyncio.to_thread(send_command, gateway.settings, **command)
