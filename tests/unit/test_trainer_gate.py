"""The gate as a pure function: the R² floor, a positive price everywhere, something new,
then no regression against best."""

import numpy as np
import pytest

from pricing.features import FeatureRow
from trainer.domain_grid import LowestPrice
from trainer.errors import (
    EXIT_NOT_POSITIVE,
    EXIT_PUBLISHED,
    EXIT_R2_FLOOR,
    EXIT_REGRESSION,
    EXIT_UNCHANGED,
)
from trainer.gate import GateDecision, SlotModel, decide, same_model


def gate(**overrides: object) -> GateDecision:
    args = {
        "test_r2": 0.80,
        "test_mae": 18.0,
        "best_mae": 18.0,
        "best_version": "m-1",
        "r2_floor": 0.6,
        "max_mae_regression": 0.05,
    }
    return decide(**{**args, **overrides})


def test_a_model_above_the_floor_and_no_worse_than_best_passes() -> None:
    decision = gate()
    assert decision.passed and decision.exit_code == EXIT_PUBLISHED == 0


def test_a_model_below_the_r2_floor_is_refused_with_exit_code_3() -> None:
    decision = gate(test_r2=0.59)
    assert not decision.passed and decision.exit_code == EXIT_R2_FLOOR == 3
    assert "below the floor 0.6000" in decision.reason


def test_the_floor_itself_passes() -> None:
    assert gate(test_r2=0.6).passed


def test_a_nan_r2_is_refused() -> None:
    assert gate(test_r2=float("nan")).exit_code == EXIT_R2_FLOOR


@pytest.mark.parametrize(("mae", "passed"), [(18.9, True), (18.0 * 1.05, True), (18.91, False)])
def test_mae_may_be_worse_than_best_by_the_allowed_ratio_only(mae: float, passed: bool) -> None:
    decision = gate(test_mae=mae)
    assert decision.passed is passed
    if not passed:
        assert decision.exit_code == EXIT_REGRESSION == 4
        assert "m-1" in decision.reason and "5.0%" in decision.reason


def test_the_first_model_has_no_best_to_regress_from() -> None:
    decision = gate(best_mae=None, best_version=None, test_mae=1e9)
    assert decision.passed and "no best model" in decision.reason


def test_the_floor_is_checked_before_the_regression() -> None:
    assert gate(test_r2=0.1, test_mae=1e9).exit_code == EXIT_R2_FLOOR


def _lowest(price: float) -> LowestPrice:
    return LowestPrice(price, FeatureRow("sarjapur", 607.0, 1, 1), 616_960)


def test_a_model_answering_a_price_of_zero_or_less_anywhere_is_refused_with_exit_code_9() -> None:
    for price in (-3.23, 0.0, float("nan")):
        decision = gate(lowest=_lowest(price))
        assert not decision.passed and decision.exit_code == EXIT_NOT_POSITIVE == 9
        assert "for 607 sqft, 1 bhk, 1 bath in 'sarjapur'" in decision.reason
        assert "616,960 points checked" in decision.reason
    assert gate(lowest=_lowest(6.7)).passed


def test_a_model_already_in_a_slot_is_not_published_with_exit_code_8() -> None:
    predictions = np.array([10.0, 20.0, 30.0])
    best = SlotModel("best", "m-1", predictions.copy(), "a" * 64)
    assert same_model(predictions + 1e-12, "b" * 64, [best]) is best  # same answers
    assert same_model(predictions + 0.01, "a" * 64, [best]) is best  # same pickle
    assert same_model(predictions + 0.01, "b" * 64, [best]) is None
    decision = gate(duplicate=best, test_rows=1_501)
    assert not decision.passed and decision.exit_code == EXIT_UNCHANGED == 8
    assert decision.reason.startswith("nothing changed: it is the model already in the best slot")
    assert "all 1,501 test rows" in decision.reason


def test_the_positive_check_comes_before_the_duplicate_and_the_regression() -> None:
    best = SlotModel("best", "m-1", np.array([1.0]), None)
    assert gate(lowest=_lowest(-1.0), duplicate=best).exit_code == EXIT_NOT_POSITIVE
    assert gate(duplicate=best, test_mae=1e9).exit_code == EXIT_UNCHANGED
