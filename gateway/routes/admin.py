"""``PUT /v1/admin/split``: change the candidate share at run time (bearer token)."""

from fastapi import APIRouter, Depends

from gateway.deps import GatewayDep, require_admin
from gateway.routes.info import experiment_of
from gateway.schemas import ERRORS, ExperimentOut, SplitIn

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.put("/split", response_model=ExperimentOut, responses=ERRORS)
async def put_split(body: SplitIn, gateway: GatewayDep) -> ExperimentOut:
    """Set the candidate share (0 to 1), stored in S3 so every gateway instance follows.

    Needs ``Authorization: Bearer <SPLITSTREAM_ADMIN_TOKEN>``; 401 without it, 503
    when no admin token is configured.
    """
    routing = await gateway.routing.set_share(body.candidate_share)
    return experiment_of(routing)
