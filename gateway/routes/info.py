"""Read-only endpoints: locations, the experiment, liveness, readiness, metrics."""

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.deps import GatewayDep
from gateway.routing import Routing
from gateway.schemas import ExperimentOut, HealthOut, LocationsOut, ReadyOut, SlotsOut

router = APIRouter(tags=["info"])


def experiment_of(routing: Routing) -> ExperimentOut:
    slots = routing.slots
    return ExperimentOut(
        experiment_id=routing.experiment_id,
        candidate_share=routing.candidate_share,
        share_source=routing.share_source,
        candidate_available=routing.candidate_available,
        versions={"prod": routing.prod_version, "candidate": routing.candidate_version},
        slots=SlotsOut(
            best=slots.best,
            candidate=slots.candidate,
            previous_best=slots.previous_best,
            generation=slots.generation,
            holdback=slots.holdback,
        )
        if slots
        else None,
    )


@router.get("/v1/locations", response_model=LocationsOut)
async def locations(gateway: GatewayDep) -> LocationsOut:
    """Every location the production model knows, sorted (lowercase)."""
    return LocationsOut(locations=list(gateway.routing.current.locations))


@router.get("/v1/experiment", response_model=ExperimentOut)
async def experiment(gateway: GatewayDep) -> ExperimentOut:
    """The slots, the model versions, the candidate share and the experiment id."""
    return experiment_of(gateway.routing.current)


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """Liveness: the process answers."""
    return HealthOut()


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
async def readyz(gateway: GatewayDep) -> JSONResponse:
    """Ready (200) when Kafka is reachable, the reply partition is assigned and prod is
    serving; otherwise 503 with the reasons."""
    reasons, checks = gateway.readiness()
    body = ReadyOut(ready=not reasons, reasons=reasons, checks=checks)
    return JSONResponse(body.model_dump(), status_code=503 if reasons else 200)


@router.get("/metrics", response_class=Response)
async def metrics(gateway: GatewayDep) -> Response:
    """Prometheus metrics of this instance."""
    gateway.readiness()  # refreshes the kafka_up and candidate_share gauges
    return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)
