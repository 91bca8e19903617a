"""``GET /v1/dashboard``: everything the dashboard page draws, in one answer."""

from fastapi import APIRouter

from gateway.dashboard_schemas import DashboardOut
from gateway.deps import GatewayDep
from gateway.routes.info import experiment_of

router = APIRouter(prefix="/v1", tags=["info"])


@router.get("/dashboard", response_model=DashboardOut)
async def dashboard(gateway: GatewayDep) -> DashboardOut:
    """The running experiment: slots and split, per-variant counts, latency and MAE with a
    95 % interval, per-minute series, the sample-ratio test, drift, the promoter's
    decisions, and inline SVG charts.

    Always 200 while the gateway runs: what could not be read (ClickHouse through the
    sink, or the ledger) is named in ``unavailable``. Answers are shared for about 2 s.
    """
    return await gateway.dashboard.current(experiment_of(gateway.routing.current))
