"""A log-log linear model's weights predict exactly as scikit-learn does, or are not used."""

from typing import Any

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from predictors.inference import predict_batch
from predictors.log_log import log_log_weights, verified_weights
from predictors.model_slot import LiveModel
from pricing.features import FeatureRow
from trainer.selection import ALGORITHMS, log_log, log_price

LOCATIONS = ["whitefield", "sarjapur", "hebbal", "yelahanka"]
COLUMNS = ["total_sqft", "bath", "bhk", *LOCATIONS]


def _homes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows as serving builds them, and prices that grow with the area."""
    rng = np.random.default_rng(seed)
    numbers = np.column_stack(
        [rng.uniform(400, 4000, n), rng.integers(1, 5, n), rng.integers(1, 5, n)]
    )
    x = np.hstack([numbers, np.eye(len(LOCATIONS))[rng.integers(0, len(LOCATIONS), n)]])
    return x, numbers[:, 0] * rng.uniform(0.04, 0.08, n)


def _fitted(model: Any) -> Any:
    return model.fit(*_homes(200, seed=1))


@pytest.mark.parametrize("algorithm", ["linear_regression", "lasso", "ridge"])
def test_the_trainers_linear_models_predict_the_same_through_their_weights(
    algorithm: str,
) -> None:
    model = _fitted(ALGORITHMS[algorithm].build(0, 1))
    weights = verified_weights(model, len(COLUMNS))
    assert weights is not None
    x, _ = _homes(50, seed=2)
    np.testing.assert_allclose(weights.predict(x), model.predict(x), rtol=1e-12)


def test_a_model_published_before_the_slices_is_read_too() -> None:
    """Versions already in the store list the location columns as a remainder."""
    logs = ColumnTransformer(
        [("log", FunctionTransformer(np.log), [0, 1, 2])], remainder="passthrough"
    )
    model = _fitted(log_price(Pipeline([("logs", logs), ("model", Ridge())])))
    weights = verified_weights(model, len(COLUMNS))
    assert weights is not None
    x, _ = _homes(20, seed=3)
    np.testing.assert_allclose(weights.predict(x), model.predict(x), rtol=1e-12)


def test_the_weights_leave_the_callers_matrix_as_it_was() -> None:
    weights = verified_weights(_fitted(log_log(LinearRegression())), len(COLUMNS))
    assert weights is not None
    x, _ = _homes(5, seed=4)
    before = x.copy()
    weights.predict(x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.filterwarnings("ignore:divide by zero encountered in log:RuntimeWarning")
def test_a_value_the_log_cannot_take_is_refused_as_scikit_learn_refuses_it() -> None:
    model = _fitted(log_log(LinearRegression()))
    weights = verified_weights(model, len(COLUMNS))
    assert weights is not None
    x, _ = _homes(1, seed=5)
    x[0, 1] = 0.0  # bath
    with pytest.raises(ValueError):
        model.predict(x)
    with pytest.raises(ValueError, match="log"):
        weights.predict(x)


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(ALGORITHMS["decision_tree"].build(0, 1), id="a tree"),
        pytest.param(ALGORITHMS["baseline"].build(0, 1), id="the median"),
        pytest.param(
            log_price(Pipeline([("scale", StandardScaler()), ("model", LinearRegression())])),
            id="another transformer",
        ),
        pytest.param(
            TransformedTargetRegressor(
                regressor=LinearRegression(), func=np.log1p, inverse_func=np.expm1
            ),
            id="another target function",
        ),
    ],
)
def test_any_other_model_keeps_scikit_learns_predict(model: Any) -> None:
    assert log_log_weights(_fitted(model), len(COLUMNS)) is None


def test_log_price_on_the_plain_features_is_read_too() -> None:
    model = _fitted(log_price(LinearRegression()))
    weights = verified_weights(model, len(COLUMNS))
    assert weights is not None
    x, _ = _homes(20, seed=6)
    np.testing.assert_allclose(weights.predict(x), model.predict(x), rtol=1e-12)


class _OffByOne(LinearRegression):
    """Looks linear, predicts something else."""

    def predict(self, X: Any) -> Any:  # noqa: N803 (scikit-learn's name)
        return super().predict(X) + 1.0


def test_weights_that_disagree_with_the_models_predict_are_not_used() -> None:
    model = _fitted(log_price(Pipeline([("model", _OffByOne())])))
    assert log_log_weights(model, len(COLUMNS)) is not None  # the shape matches
    assert verified_weights(model, len(COLUMNS)) is None  # the answers do not


def test_a_batch_is_priced_the_same_with_and_without_the_weights() -> None:
    model = _fitted(log_log(Lasso(alpha=0.001)))
    with_weights = LiveModel(
        "v1", 1, model, COLUMNS, None, None, verified_weights(model, len(COLUMNS))
    )
    assert with_weights.weights is not None
    without = LiveModel("v1", 1, model, COLUMNS, None, None)
    rows = [FeatureRow(loc, 1200.0 + 100 * i, 2, 3) for i, loc in enumerate(LOCATIONS * 3)]
    fast, slow = predict_batch(with_weights, rows), predict_batch(without, rows)
    assert [o.price_lakhs for o in fast.outcomes] == [o.price_lakhs for o in slow.outcomes]
    assert all(o.status == "ok" for o in fast.outcomes)
