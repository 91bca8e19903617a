"""The gate as a pure function: the R² floor first, then no regression against best."""

import pytest

from trainer.errors import EXIT_PUBLISHED, EXIT_R2_FLOOR, EXIT_REGRESSION
from trainer.gate import GateDecision, decide


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
