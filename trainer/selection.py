"""Model choice: a cross-validated grid search per algorithm on the training part only.

Scoring is negative mean absolute error (``neg_mean_absolute_error``, higher is
better): MAE is what the gate and the promoter compare, in lakhs. The winner is the
algorithm with the best mean CV score (the first listed on a tie), refitted on the whole
training part. The test part is used afterwards, for reporting only: ``choose`` never
sees it, and a unit test proves that shuffling the test labels changes no choice.

No model can answer a price of 0 or less: every one learns the logarithm of the price
and answers its exponential (``TransformedTargetRegressor``), and the linear ones read
the logarithms of total_sqft, bath and bhk too (a log-log, multiplicative model: a
price per square foot per location, which is how this market prices; its test MAE is
lower than the same models' on raw prices, which answered negative prices for small
homes in cheap locations). Trees predict averages of training prices,
positive anyway, and are split the same either way. The gate checks it over the whole
feature domain (``trainer/domain_grid.py``). The fitted models hold only scikit-learn
and numpy objects, so serving unpickles them as before.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csc_matrix
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import Lasso, LinearRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.tree import DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from pricing.features import NUMERIC_COLUMNS
from trainer.dataset import Split
from trainer.errors import SelectionError

SCORING = "neg_mean_absolute_error"
CV_FOLDS = 5
#: Two cores here. The grid search fits one model at a time in this process: a pool of
#: worker processes took longer to start (importing scikit-learn twice) than the linear
#: models take to fit. The random forest grows its trees on ``n_jobs`` threads instead.
#: BLAS is held to one thread: OpenBLAS threads spinning against each other cost the
#: linear models many times their CPU time here.
DEFAULT_N_JOBS = 2

#: The candidate set of a normal run, in tie-break order.
DEFAULT_ALGORITHMS = ("linear_regression", "lasso", "ridge", "decision_tree", "random_forest")
#: A deliberately weak model for demos and tests, never in the default set: a depth-3 tree.
#: On the real data its test R² clears the default floor (``train_r2_floor``) while its test
#: MAE is well above the log-log ridge's, so only the regression gate stops it (relax
#: train_max_mae_regression to publish).
WEAK = "weak"
#: A model with no skill, never in the default set: it predicts the training median for every
#: home. Demos publish it (gate relaxed) as a candidate that is plainly worse than any fit.
BASELINE = "baseline"


@dataclass(frozen=True)
class Algorithm:
    """One candidate: how to build it from (seed, n_jobs), its grid, and its input format.

    Trees fit on a sparse (CSC) copy of the same matrix: the one-hot columns are mostly
    zeros, and the sparse splitter skips them, which cuts the forest's fit time. They
    still predict from the dense ``feature_matrix`` that serving builds.
    """

    key: str
    build: Callable[[int, int], BaseEstimator]
    grid: dict[str, list[Any]]
    sparse: bool = False


#: The numeric features (total_sqft, bath, bhk) lead the feature matrix; the one-hot
#: location columns follow. Slices, not lists of indexes: a ColumnTransformer checks the
#: type of every listed index on every predict call, which was a quarter of a one-row
#: prediction's 0.65 ms (the remainder alone listed about 240).
NUMERIC_SLICE = slice(0, len(NUMERIC_COLUMNS))
LOCATION_SLICE = slice(len(NUMERIC_COLUMNS), None)


def log_price(model: BaseEstimator) -> BaseEstimator:
    """``model`` fitted on log(price), answering exp(prediction): always above 0."""
    return TransformedTargetRegressor(regressor=model, func=np.log, inverse_func=np.exp)


def log_log(model: BaseEstimator) -> BaseEstimator:
    """A linear ``model`` of log(price) on log(total_sqft), log(bath), log(bhk) and the
    location columns as they are."""
    logs = ColumnTransformer(
        [
            ("log", FunctionTransformer(np.log), NUMERIC_SLICE),
            ("locations", "passthrough", LOCATION_SLICE),
        ]
    )
    return log_price(Pipeline([("logs", logs), ("model", model)]))


def _linear_grid(grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {f"regressor__model__{name}": values for name, values in grid.items()}


def _tree_grid(grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {f"regressor__{name}": values for name, values in grid.items()}


def _forest(seed: int, n_jobs: int) -> BaseEstimator:
    return log_price(RandomForestRegressor(random_state=seed, n_jobs=n_jobs))


ALGORITHMS: dict[str, Algorithm] = {
    a.key: a
    for a in (
        Algorithm("linear_regression", lambda seed, n_jobs: log_log(LinearRegression()), {}),
        Algorithm(
            "lasso",
            lambda seed, n_jobs: log_log(Lasso(random_state=seed)),
            _linear_grid({"alpha": [0.0001, 0.001, 0.01]}),
        ),
        Algorithm(
            "ridge",
            lambda seed, n_jobs: log_log(Ridge(random_state=seed)),
            _linear_grid({"alpha": [0.1, 1.0, 10.0]}),
        ),
        Algorithm(
            "decision_tree",
            lambda seed, n_jobs: log_price(DecisionTreeRegressor(random_state=seed)),
            _tree_grid({"max_depth": [5, 10, 15]}),
            sparse=True,
        ),
        Algorithm(
            "random_forest",
            _forest,
            _tree_grid({"n_estimators": [50, 100], "max_depth": [5, 10]}),
            sparse=True,
        ),
        Algorithm(
            WEAK,
            lambda seed, n_jobs: log_price(DecisionTreeRegressor(max_depth=3, random_state=seed)),
            {},
            sparse=True,
        ),
        Algorithm(BASELINE, lambda seed, n_jobs: DummyRegressor(strategy="median"), {}),
    )
}


@dataclass(frozen=True)
class HeldOutMetrics:
    """Errors on the held-out test rows, in lakhs (rmse, mae) and as R²."""

    rmse: float
    mae: float
    r2: float

    def as_dict(self) -> dict[str, float]:
        return {"test_rmse": self.rmse, "test_mae": self.mae, "test_r2": self.r2}


@dataclass(frozen=True)
class CandidateResult:
    """One algorithm's grid search: its best params, CV score, refitted model, test errors."""

    algorithm: str
    params: dict[str, Any]
    cv_score: float
    cv_table: list[dict[str, Any]]
    estimator: Any
    test: HeldOutMetrics
    search_s: float


@dataclass(frozen=True)
class Selection:
    candidates: tuple[CandidateResult, ...]
    winner: CandidateResult


def resolve(algorithms: Sequence[str] | None) -> tuple[str, ...]:
    """The algorithm keys to search: the default set when None.

    Raises:
        SelectionError: the set is empty or names an unknown algorithm.
    """
    keys = tuple(DEFAULT_ALGORITHMS if algorithms is None else algorithms)
    unknown = [k for k in keys if k not in ALGORITHMS]
    if unknown or not keys:
        raise SelectionError(
            f"unknown or no algorithm {unknown or list(keys)}; choose from {sorted(ALGORITHMS)}"
        )
    return tuple(dict.fromkeys(keys))


def grid_search(
    algorithm: Algorithm, x: np.ndarray, y: np.ndarray, *, seed: int, n_jobs: int
) -> GridSearchCV:
    """Fit ``GridSearchCV`` (KFold(5, shuffle, seed), negative MAE) on ``x, y`` and refit.

    The fits run one after another; ``n_jobs`` is the estimator's own threads (forest).
    """
    search = GridSearchCV(
        algorithm.build(seed, n_jobs),
        param_grid=algorithm.grid,
        scoring=SCORING,
        cv=KFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed),
        n_jobs=1,
        refit=True,
    )
    return search.fit(csc_matrix(x) if algorithm.sparse else x, y)


def evaluate(estimator: Any, x: np.ndarray, y: np.ndarray) -> HeldOutMetrics:
    predicted = estimator.predict(x)
    return HeldOutMetrics(
        rmse=float(np.sqrt(mean_squared_error(y, predicted))),
        mae=float(mean_absolute_error(y, predicted)),
        r2=float(r2_score(y, predicted)),
    )


def choose(candidates: Sequence[CandidateResult]) -> CandidateResult:
    """The candidate with the highest CV score; the first one on a tie. Never looks at test."""
    if not candidates:
        raise SelectionError("no candidate to choose from")
    best = candidates[0]
    for candidate in candidates[1:]:
        if candidate.cv_score > best.cv_score:
            best = candidate
    return best


def select_model(
    split: Split,
    *,
    seed: int,
    algorithms: Sequence[str] | None = None,
    n_jobs: int = DEFAULT_N_JOBS,
    on_candidate: Callable[[str], None] | None = None,
) -> Selection:
    """Search every algorithm on the training part, report each on test, choose by CV.

    Args:
        split: the train and test parts.
        seed: seeds the folds and every estimator's ``random_state``.
        algorithms: keys of ``ALGORITHMS``; None is ``DEFAULT_ALGORITHMS``.
        n_jobs: threads of an estimator that has them (the random forest's trees).
        on_candidate: called with each algorithm's key before its search (progress).
    """
    results = []
    for key in resolve(algorithms):
        if on_candidate is not None:
            on_candidate(key)
        started = time.perf_counter()
        with threadpool_limits(limits=1, user_api="blas"):
            search = grid_search(
                ALGORITHMS[key], split.x_train, split.y_train, seed=seed, n_jobs=n_jobs
            )
        cv = search.cv_results_
        table = [
            {
                "params": {n.split("__")[-1]: v for n, v in p.items()},
                "mean": float(m),
                "std": float(s),
            }
            for p, m, s in zip(
                cv["params"], cv["mean_test_score"], cv["std_test_score"], strict=True
            )
        ]
        results.append(
            CandidateResult(
                algorithm=key,
                params={name.split("__")[-1]: v for name, v in search.best_params_.items()},
                cv_score=float(search.best_score_),
                cv_table=table,
                estimator=search.best_estimator_,
                test=evaluate(search.best_estimator_, split.x_test, split.y_test),
                search_s=time.perf_counter() - started,
            )
        )
    return Selection(tuple(results), choose(results))
