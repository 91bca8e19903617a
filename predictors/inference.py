"""Predict a batch of rows with one live model: domain check, then ONE predict call."""

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from predictors.model_slot import LiveModel
from pricing.features import FeatureRow, feature_matrix

log = logging.getLogger(__name__)

#: Error codes a row's outcome may carry.
OUT_OF_DOMAIN = "out_of_domain"
PREDICT_FAILED = "predict_failed"
NON_FINITE = "non_finite_prediction"


@dataclass(frozen=True)
class Outcome:
    """One row's result: a price, or an error shaped like the schemas' ``error`` object."""

    price_lakhs: float | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def ok(cls, price: float) -> "Outcome":
        return cls(price_lakhs=round(price, 2))

    @classmethod
    def failed(cls, code: str, message: str, field: str | None = None) -> "Outcome":
        return cls(error={"code": code, "message": message[:2000], "field": field})

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "error"


@dataclass(frozen=True)
class BatchPrediction:
    outcomes: list[Outcome]
    #: Wall time of the domain check, the feature matrix and the predict call.
    predict_ms: float
    #: How many rows reached the estimator (the others were out of domain).
    predicted_rows: int


def predict_batch(model: LiveModel, rows: Sequence[FeatureRow]) -> BatchPrediction:
    """Outcomes for ``rows`` in order; rows outside the model's domain get an error.

    Every in-domain row goes through a single ``estimator.predict`` call. If that
    call fails, each of those rows gets a ``predict_failed`` error instead of the
    worker stopping.
    """
    started = time.perf_counter()
    outcomes: list[Outcome | None] = [None] * len(rows)
    inside: list[int] = []
    for i, row in enumerate(rows):
        violation = model.domain.violation(row) if model.domain is not None else None
        if violation is None:
            inside.append(i)
        else:
            outcomes[i] = Outcome.failed(OUT_OF_DOMAIN, violation.message, violation.field)
    if inside:
        for i, outcome in zip(inside, _predict(model, [rows[i] for i in inside]), strict=True):
            outcomes[i] = outcome
    predict_ms = (time.perf_counter() - started) * 1000
    return BatchPrediction([o for o in outcomes if o is not None], predict_ms, len(inside))


def _predict(model: LiveModel, rows: list[FeatureRow]) -> list[Outcome]:
    matrix: Any = feature_matrix(rows, model.columns)
    if model.feature_names is not None:
        matrix = pd.DataFrame(matrix, columns=model.feature_names)
    predict = model.weights.predict if model.weights is not None else model.estimator.predict
    try:
        prices = predict(matrix)
    except Exception as error:
        log.exception("model %s: predict failed on a batch of %d", model.version, len(rows))
        return [Outcome.failed(PREDICT_FAILED, f"{type(error).__name__}: {error}")] * len(rows)
    if len(prices) != len(rows):
        message = f"model {model.version} returned {len(prices)} predictions for {len(rows)} rows"
        return [Outcome.failed(PREDICT_FAILED, message)] * len(rows)
    return [
        Outcome.ok(float(p))
        if math.isfinite(float(p))
        else Outcome.failed(NON_FINITE, f"model {model.version} predicted {float(p)}")
        for p in prices
    ]
