"""Model choice: by cross-validation on the training part only, never by the test labels."""

from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from cli.settings import load_settings
from pricing.features import NUMERIC_COLUMNS
from trainer.cleaning import clean
from trainer.data import load_raw
from trainer.dataset import Split, split_dataset
from trainer.errors import SelectionError
from trainer.selection import (
    DEFAULT_ALGORITHMS,
    CandidateResult,
    HeldOutMetrics,
    choose,
    log_log,
    resolve,
    select_model,
)


@pytest.fixture(scope="module")
def real_split() -> Split:
    """The real data set (settings.data_path), cleaned and split as training does."""
    settings = load_settings()
    cleaned = clean(load_raw(settings).frame())
    return split_dataset(cleaned, test_size=settings.train_test_size, seed=settings.train_seed)


def test_the_choice_does_not_depend_on_the_test_labels(real_split: Split) -> None:
    # Given the full default grid chosen once with the true test labels
    seed = load_settings().train_seed
    first = select_model(real_split, seed=seed)

    # When the test labels are shuffled and the choice is made again
    shuffled_y = np.random.default_rng(0).permutation(real_split.y_test)
    assert not np.array_equal(shuffled_y, real_split.y_test)
    second = select_model(replace(real_split, y_test=shuffled_y), seed=seed)

    # Then every algorithm got the same params and CV score, and the winner is the same;
    # only the reported test metrics moved (so the shuffled labels did reach evaluation).
    assert [c.algorithm for c in first.candidates] == list(DEFAULT_ALGORITHMS)
    assert second.winner.algorithm == first.winner.algorithm
    assert second.winner.params == first.winner.params
    for a, b in zip(first.candidates, second.candidates, strict=True):
        assert (a.algorithm, a.params) == (b.algorithm, b.params)
        # The forest sums its trees' predictions from two threads, in either order.
        assert a.cv_score == pytest.approx(b.cv_score, rel=1e-12)
    assert second.winner.test.mae != first.winner.test.mae
    assert first.winner.test.r2 >= 0.6


def candidate(name: str, cv_score: float, test_mae: float) -> CandidateResult:
    return CandidateResult(name, {}, cv_score, [], None, HeldOutMetrics(1.0, test_mae, 0.5), 0.0)


def test_choose_takes_the_best_cv_score_and_ignores_test_metrics() -> None:
    picked = choose([candidate("a", -20.0, 1.0), candidate("b", -18.0, 99.0)])
    assert picked.algorithm == "b"


def test_choose_keeps_the_first_on_a_tie() -> None:
    assert choose([candidate("a", -18.0, 5.0), candidate("b", -18.0, 1.0)]).algorithm == "a"


def test_resolve_defaults_dedupes_and_refuses_unknown_names() -> None:
    assert resolve(None) == DEFAULT_ALGORITHMS
    assert resolve(["ridge", "ridge", "weak"]) == ("ridge", "weak")
    with pytest.raises(SelectionError, match="xgboost"):
        resolve(["xgboost"])
    with pytest.raises(SelectionError):
        resolve([])


def test_the_weak_model_is_a_shallow_tree_clearly_worse_but_above_the_floor(
    real_split: Split,
) -> None:
    seed = load_settings().train_seed
    weak = select_model(real_split, seed=seed, algorithms=["weak"]).winner
    ridge = select_model(real_split, seed=seed, algorithms=["ridge"]).winner
    assert weak.estimator.regressor_.get_depth() == 3  # fitted on log(price)
    assert weak.test.mae > ridge.test.mae * 1.2
    assert weak.test.r2 >= load_settings().train_r2_floor


def test_log_log_reads_the_logs_of_the_numbers_and_the_locations_as_they_are() -> None:
    rng = np.random.default_rng(7)
    numbers = rng.uniform(1, 5000, size=(40, len(NUMERIC_COLUMNS)))
    locations = np.eye(5)[rng.integers(0, 5, size=40)]
    x = np.hstack([numbers, locations])
    model = log_log(LinearRegression()).fit(x, rng.uniform(10, 500, size=40))
    seen = model.regressor_.named_steps["logs"].transform(x)
    np.testing.assert_array_equal(seen, np.hstack([np.log(numbers), locations]))
