"""The gate: a model is published only if it clears the R² floor and does not regress.

``decide`` is a plain function of the numbers; ``mae_of_version`` loads the best slot's
model and scores it on the same test rows, built for that model's own columns.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mean_absolute_error

from plumbing.features import FeatureRow, feature_matrix
from plumbing.model_store import ModelStore
from trainer.errors import EXIT_PUBLISHED, EXIT_R2_FLOOR, EXIT_REGRESSION


@dataclass(frozen=True)
class GateDecision:
    """Whether the model may be published; if not, the exit code and why."""

    passed: bool
    exit_code: int
    reason: str


def decide(
    *,
    test_r2: float,
    test_mae: float,
    best_mae: float | None,
    best_version: str | None,
    r2_floor: float,
    max_mae_regression: float,
) -> GateDecision:
    """Refuse a model below the R² floor, or worse than best by more than allowed.

    Args:
        test_r2: the new model's R² on the test rows.
        test_mae: its mean absolute error there, in lakhs.
        best_mae: the best slot's model's MAE on the same rows; None when there is none.
        best_version: its version, for the message.
        r2_floor: the lowest acceptable test R² (``train_r2_floor``).
        max_mae_regression: the largest accepted relative MAE increase over best
            (``train_max_mae_regression``; 0.05 allows MAE up to 1.05 x best's).

    Returns:
        A decision: exit code 0 when it passes, 3 for the R² floor, 4 for a regression.
    """
    if not test_r2 >= r2_floor:
        return GateDecision(
            False,
            EXIT_R2_FLOOR,
            f"test R² {test_r2:.4f} is below the floor {r2_floor:.4f} (SPLITSTREAM_TRAIN_R2_FLOOR)",
        )
    if best_mae is not None:
        limit = best_mae * (1.0 + max_mae_regression)
        if not test_mae <= limit:
            return GateDecision(
                False,
                EXIT_REGRESSION,
                f"test MAE {test_mae:.3f} is worse than best {best_version}'s {best_mae:.3f} on "
                f"the same rows by more than {max_mae_regression:.1%} (limit {limit:.3f}; "
                "SPLITSTREAM_TRAIN_MAX_MAE_REGRESSION)",
            )
        versus = f"; MAE {test_mae:.3f} vs best {best_version}'s {best_mae:.3f}"
    else:
        versus = "; no best model to compare with"
    return GateDecision(True, EXIT_PUBLISHED, f"test R² {test_r2:.4f} >= {r2_floor:.4f}{versus}")


def mae_of_version(
    store: ModelStore, version: str, rows: Sequence[FeatureRow], prices: np.ndarray
) -> float:
    """The MAE of model ``version`` on ``rows``, featurized with its own columns.

    Raises:
        ModelNotFoundError, ModelIntegrityError: the version cannot be loaded safely.
    """
    loaded = store.load(version)
    predicted = loaded.estimator.predict(feature_matrix(rows, loaded.columns))
    return float(mean_absolute_error(prices, predicted))
