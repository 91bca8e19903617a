"""The comparison point: the production model in-process behind one FastAPI endpoint.

The model is loaded as a predictor loads it (ModelStore.load, sha256 checked, then
LiveModel.from_loaded) and predicted with the predictors' own ``predict_batch``,
one row per request, so the only difference from Splitstream is the Kafka round trip
and the micro-batching. Run: ``python -m bench.direct_app PORT``.
"""

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request

from cli.settings import get_settings
from gateway.schemas import PredictIn
from plumbing.model_store import ModelStore, SlotStore
from plumbing.s3 import s3_client
from predictors.inference import predict_batch
from predictors.model_slot import LiveModel
from pricing.features import FeatureRow


def load_best_model() -> LiveModel:
    """The version in the ``best`` slot of the configured bucket, verified and unpickled."""
    settings = get_settings()
    s3 = s3_client(settings)
    current = SlotStore(s3, settings.s3_bucket).read()
    if current is None or current.slots.best is None:
        raise RuntimeError(f"no best model in bucket {settings.s3_bucket}")
    store = ModelStore(s3, settings.s3_bucket, verify_key=settings.model_verify_key)
    loaded = store.load(current.slots.best)
    return LiveModel.from_loaded(loaded, generation=current.slots.generation)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.model = load_best_model()
    yield


def create_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/predict")
    async def predict(body: PredictIn, request: Request) -> dict[str, Any]:
        model: LiveModel = request.app.state.model
        row = FeatureRow(body.location, body.total_sqft, body.bath, body.bhk)
        outcome = predict_batch(model, [row]).outcomes[0]
        if outcome.error is not None:
            raise HTTPException(422, outcome.error)
        return {"price_lakhs": outcome.price_lakhs, "model_version": model.version}

    return app


def serve(port: int) -> None:
    """uvicorn with the gateway's worker settings (gateway/workers.py:uvicorn_config)."""
    uvicorn.run(
        "bench.direct_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop="auto",  # uvloop when installed, as the gateway
        http="auto",  # httptools when installed, as the gateway
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    serve(int(sys.argv[1]))
