"""The trainer's log-log linear models, predicted as one numpy expression.

A linear model of log(price) on the logs of some columns and the others as they are
(``trainer.selection.log_log``) answers ``exp(intercept + f(X) @ weights)``. Its
scikit-learn ``predict`` spent about 0.6 ms on a one-row batch, and 1 ms in a serving
process: input checks, estimator tags and a joblib ``Parallel`` inside the
ColumnTransformer, for some 240 multiplications. That was the largest share of a
prediction's latency.

``verified_weights`` reads the weights off the fitted model and keeps them only when they
answer what ``estimator.predict`` answers on probe rows, to the last bit but rounding.
Any other model (a tree, a new shape of pipeline) returns None and predicts through
scikit-learn as before.
"""

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

log = logging.getLogger(__name__)

#: Probe rows a model's weights must reproduce its predictions on, and how closely.
PROBE_ROWS = 16
PROBE_SEED = 20261206
RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class LogLogWeights:
    """``exp(intercept + X' @ weights)``, where X' is X with ``logged`` columns in logs."""

    weights: np.ndarray
    intercept: float
    logged: np.ndarray  # bool per input column

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Prices for the rows of ``matrix``.

        Raises:
            ValueError: a logged column is not positive (scikit-learn refuses the
                infinity its log makes, so this does too).
        """
        inputs = np.array(matrix, dtype=np.float64)  # a copy: the caller's stays as it was
        with np.errstate(divide="ignore", invalid="ignore"):  # refused just below
            inputs[:, self.logged] = np.log(inputs[:, self.logged])
        if not np.isfinite(inputs).all():
            raise ValueError("input contains a value the model's log cannot take")
        prices: np.ndarray = np.exp(inputs @ self.weights + self.intercept)
        return prices


def verified_weights(estimator: Any, n_columns: int) -> LogLogWeights | None:
    """The log-log weights of ``estimator`` if they predict exactly as it does, else None."""
    weights = log_log_weights(estimator, n_columns)
    if weights is None:
        return None
    probe = np.random.default_rng(PROBE_SEED).uniform(0.5, 2.0, size=(PROBE_ROWS, n_columns))
    try:
        expected = np.asarray(estimator.predict(probe), dtype=np.float64)
        answered = weights.predict(probe)
    except Exception:  # a model that cannot take the probe keeps its own predict
        log.warning("the model's log-log weights could not be checked", exc_info=True)
        return None
    if expected.shape != answered.shape or not np.isfinite(expected).all():
        return None  # nothing to compare against
    if not np.allclose(answered, expected, rtol=RELATIVE_TOLERANCE, atol=0.0):
        log.warning(
            "the model's log-log weights disagree with its predict: it predicts through "
            "scikit-learn"
        )
        return None
    return weights


def log_log_weights(estimator: Any, n_columns: int) -> LogLogWeights | None:
    """The weights of exp(linear model of log and plain columns), or None for another shape.

    The shape: ``TransformedTargetRegressor(func=np.log, inverse_func=np.exp)`` around a
    linear model, alone or after one ColumnTransformer whose parts take logs
    (``FunctionTransformer(np.log)``), pass columns through, or drop them.
    """
    if not (
        isinstance(estimator, TransformedTargetRegressor)
        and estimator.transformer is None
        and estimator.func is np.log
        and estimator.inverse_func is np.exp
        and hasattr(estimator, "regressor_")
    ):
        return None
    steps = (
        [s for _, s in estimator.regressor_.steps]
        if isinstance(estimator.regressor_, Pipeline)
        else [estimator.regressor_]
    )
    model = steps[-1]
    if len(steps) > 2 or not (hasattr(model, "coef_") and hasattr(model, "intercept_")):
        return None
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if coef.ndim != 1 or intercept.ndim != 0:  # one target, one intercept
        return None
    if len(steps) == 1:
        return _plain(coef, float(intercept), n_columns)
    return _through(steps[0], coef, float(intercept), n_columns)


def _plain(coef: np.ndarray, intercept: float, n_columns: int) -> LogLogWeights | None:
    if len(coef) != n_columns:
        return None
    return LogLogWeights(coef.astype(np.float64), intercept, np.zeros(n_columns, dtype=bool))


def _through(
    columns: Any, coef: np.ndarray, intercept: float, n_columns: int
) -> LogLogWeights | None:
    """Weights per input column, from a fitted ColumnTransformer's parts and output slices."""
    if not isinstance(columns, ColumnTransformer) or columns.n_features_in_ != n_columns:
        return None
    weights, logged = np.zeros(n_columns), np.zeros(n_columns, dtype=bool)
    taken = np.zeros(n_columns, dtype=int)
    for name, part, selected in columns.transformers_:
        kind = _kind(part)
        if kind is None:
            return None
        if kind == "drop":
            continue
        try:
            inputs = np.atleast_1d(np.arange(n_columns)[selected])
        except (IndexError, TypeError):  # columns named, not numbered
            return None
        outputs = np.arange(len(coef))[columns.output_indices_[name]]
        if len(inputs) != len(outputs):
            return None
        weights[inputs], logged[inputs] = coef[outputs], kind == "log"
        taken[inputs] += 1
    if (taken > 1).any():
        return None
    return LogLogWeights(weights, intercept, logged)


def _kind(part: Any) -> str | None:
    """The effect of a ColumnTransformer part: "log", "same" or "drop"; None for any other."""
    if isinstance(part, str):
        return {"passthrough": "same", "drop": "drop"}.get(part)
    if isinstance(part, FunctionTransformer) and not part.kw_args:
        if part.func is None:
            return "same"
        if part.func is np.log:
            return "log"
    return None
