"""Synthetic traffic for the promoter's decision tests, written to ClickHouse as the sink would.

Each served request gets its request event, its reply (with latency), possibly a shadow
reply from the candidate slot, and possibly a true price as feedback, all with their
times; ``_ingested_at`` is set a second after each event, as the sink would have stored
it, so a point-in-time read at a moment sees exactly what existed then.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from plumbing.clickhouse import ClickHouse
from schemas.columns import flatten_event
from schemas.serving_events import Feedback, PredictReply, PredictRequest

#: The sink stores an event about this long after it happened.
INGEST_LAG = timedelta(seconds=1)
FEATURES = {"location": "whitefield", "total_sqft": 1200.0, "bath": 2, "bhk": 2}


@dataclass
class Batch:
    """Events to insert, per table."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)

    def insert(self, clickhouse: ClickHouse) -> None:
        for table, rows in (
            ("requests", self.requests),
            ("replies", self.replies),
            ("feedback", self.feedback),
        ):
            if rows:
                clickhouse.insert_df(table, pd.DataFrame(rows))


def _row(
    event: Any, topic: str, offset: int, *, ingested_at: datetime | None = None
) -> dict[str, Any]:
    row = flatten_event(event.model_dump(), event.event_type)
    stored = ingested_at or event.occurred_at + INGEST_LAG
    return {**row, "_topic": topic, "_partition": 0, "_offset": offset, "_ingested_at": stored}


@dataclass(frozen=True)
class Arms:
    """What the two slots serve, and how well: absolute errors are exponential with these
    means; the shadow (candidate slot) errs as ``candidate_mae`` on prod's requests too."""

    prod_version: str
    candidate_version: str
    prod_mae: float = 25.0
    candidate_mae: float = 25.0
    candidate_error_rate: float = 0.0
    shadow_share: float = 0.0


def traffic(
    experiment_id: str,
    arms: Arms,
    *,
    start: datetime,
    end: datetime,
    requests: int,
    share: float,
    rng: np.random.Generator,
    feedback_share: float = 1.0,
) -> Batch:
    """``requests`` served evenly from ``start`` to ``end``, ``share`` of them to the
    candidate slot, each answered within 5-30 ms, feedback a minute later."""
    batch = Batch()
    step = (end - start) / max(requests, 1)
    for i in range(requests):
        at = start + step * i
        variant = "candidate" if rng.random() < share else "prod"
        _serve(batch, experiment_id, arms, variant, at, rng, feedback_share)
    return batch


def _serve(
    batch: Batch,
    experiment_id: str,
    arms: Arms,
    variant: str,
    at: datetime,
    rng: np.random.Generator,
    feedback_share: float,
) -> None:
    actual = float(np.round(rng.lognormal(4.5, 0.5), 2))
    request = PredictRequest.create(
        occurred_at=at,
        request_id=str(uuid.uuid4()),
        experiment_id=experiment_id,
        variant=variant,
        assignment="hashed",
        split_key=uuid.uuid4().hex,
        slot=variant,
        shadow=False,
        source="http",
        features=FEATURES,
        reply_to={"topic": "predict.replies", "partition": 0},
        deadline_at=at + timedelta(seconds=2),
    )
    batch.requests.append(_row(request, "predict.requests", len(batch.requests)))
    failed = variant == "candidate" and rng.random() < arms.candidate_error_rate
    mae = arms.candidate_mae if variant == "candidate" else arms.prod_mae
    version = arms.candidate_version if variant == "candidate" else arms.prod_version
    replied = at + timedelta(milliseconds=float(rng.uniform(5, 30)))
    batch.replies.append(
        _reply(request, replied, version, None if failed else _price(actual, mae, rng))
    )
    if variant == "prod" and rng.random() < arms.shadow_share:
        shadow = PredictRequest.create(
            **{**request.model_dump(exclude={"event_id"}), "slot": "candidate", "shadow": True}
        )
        batch.replies.append(
            _reply(shadow, replied, arms.candidate_version, _price(actual, arms.candidate_mae, rng))
        )
    if not failed and rng.random() < feedback_share:
        said = at + timedelta(minutes=1)
        batch.feedback.append(feedback_row(request.request_id, actual, said, len(batch.feedback)))


def _price(actual: float, mae: float, rng: np.random.Generator) -> float:
    error = rng.exponential(mae) * (1 if rng.random() < 0.5 else -1)
    return float(max(actual + error, 1.0))


def _reply(
    request: PredictRequest, at: datetime, version: str, price: float | None
) -> dict[str, Any]:
    reply = PredictReply.create(
        occurred_at=at,
        request_id=request.request_id,
        experiment_id=request.experiment_id,
        variant=request.variant,
        slot=request.slot,
        shadow=request.shadow,
        model_version=version,
        status="ok" if price is not None else "error",
        price_lakhs=price,
        error=None
        if price is not None
        else {"code": "predict_failed", "message": "x", "field": None},
        predictor_id=f"{request.slot}-1",
        timings={"queued_ms": 1.0, "predict_ms": 1.0, "batch_size": 1},
    )
    return _row(reply, "predict.replies", 0)


def feedback_row(
    request_id: str,
    price: float,
    at: datetime,
    offset: int = 0,
    *,
    ingested_at: datetime | None = None,
) -> dict[str, Any]:
    """One feedback row as stored. Built from the event for a sane price; written as the
    raw row for any other (1e200 was accepted and stored before feedback was bounded)."""
    sane = Feedback.create(
        occurred_at=at,
        request_id=request_id,
        actual_price_lakhs=100.0,
        source="http",
        feedback_type="actual_price",
        note=None,
    )
    row = _row(sane, "feedback", offset, ingested_at=ingested_at)
    row["actual_price_lakhs"] = price
    return row


def candidate_request_ids(batch: Batch) -> list[str]:
    return [r["request_id"] for r in batch.requests if r["variant"] == "candidate"]
