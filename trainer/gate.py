"""The gate: a model is published only if it is sound, new, and no worse than best.

In order: its test R² reaches the floor; it answers a positive price everywhere on the
feature domain's grid; it is not the model already in a slot (same predictions on every
test row, or the same pickled bytes); its test MAE is not worse than best's by more than
allowed. ``decide`` is a plain function of what was measured; ``slot_model`` loads a
slot's model and scores it on the same test rows, built for that model's own columns.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mean_absolute_error

from plumbing.model_store import MODEL_FILE, ModelStore
from pricing.features import FeatureRow, feature_matrix
from trainer.domain_grid import LowestPrice
from trainer.errors import (
    EXIT_NOT_POSITIVE,
    EXIT_PUBLISHED,
    EXIT_R2_FLOOR,
    EXIT_REGRESSION,
    EXIT_UNCHANGED,
)

#: Predictions closer than this (lakhs) on every test row are the same model's.
SAME_PREDICTION_LAKHS = 1e-9


@dataclass(frozen=True)
class GateDecision:
    """Whether the model may be published; if not, the exit code and why."""

    passed: bool
    exit_code: int
    reason: str


@dataclass(frozen=True)
class SlotModel:
    """A model in a slot, as the gate compares with it: its test predictions and digest."""

    slot: str
    version: str
    predictions: np.ndarray
    model_sha256: str | None

    def mae(self, prices: np.ndarray) -> float:
        return float(mean_absolute_error(prices, self.predictions))


def same_model(
    predictions: np.ndarray, model_sha256: str, others: Sequence[SlotModel]
) -> SlotModel | None:
    """The slot model this one duplicates (same pickle, or the same answer on every test
    row), or None when it is new."""
    for other in others:
        if other.model_sha256 == model_sha256:
            return other
        if other.predictions.shape == predictions.shape and np.allclose(
            other.predictions, predictions, rtol=0.0, atol=SAME_PREDICTION_LAKHS
        ):
            return other
    return None


def decide(
    *,
    test_r2: float,
    test_mae: float,
    best_mae: float | None,
    best_version: str | None,
    r2_floor: float,
    max_mae_regression: float,
    lowest: LowestPrice | None = None,
    duplicate: SlotModel | None = None,
    test_rows: int = 0,
) -> GateDecision:
    """Refuse a model below the R² floor, answering a price <= 0 on the domain grid,
    identical to a model in a slot, or worse than best by more than allowed.

    Args:
        test_r2: the new model's R² on the test rows.
        test_mae: its mean absolute error there, in lakhs.
        best_mae: the best slot's model's MAE on the same rows; None when there is none.
        best_version: its version, for the message.
        r2_floor: the lowest acceptable test R² (``train_r2_floor``).
        max_mae_regression: the largest accepted relative MAE increase over best
            (``train_max_mae_regression``; 0.05 allows MAE up to 1.05 x best's).
        lowest: the new model's lowest answer on the domain grid (None: not checked).
        duplicate: the slot model it duplicates (``same_model``), if any.
        test_rows: how many test rows the duplicate was compared on, for the message.

    Returns:
        A decision: exit code 0 when it passes, 3 for the R² floor, 9 for a price <= 0,
        8 for a duplicate, 4 for a regression.
    """
    if not test_r2 >= r2_floor:
        return GateDecision(
            False,
            EXIT_R2_FLOOR,
            f"test R² {test_r2:.4f} is below the floor {r2_floor:.4f} (SPLITSTREAM_TRAIN_R2_FLOOR)",
        )
    if lowest is not None and not lowest.positive:
        row = lowest.row
        return GateDecision(
            False,
            EXIT_NOT_POSITIVE,
            f"it answers {lowest.price:.2f} lakhs for {row.total_sqft:g} sqft, {row.bhk} bhk, "
            f"{row.bath} bath in {row.location!r}: a price must be above 0 everywhere in the "
            f"feature domain ({lowest.rows_checked:,} points checked)",
        )
    if duplicate is not None:
        return GateDecision(
            False,
            EXIT_UNCHANGED,
            f"nothing changed: it is the model already in the {duplicate.slot} slot "
            f"({duplicate.version}): the same predictions on all {test_rows:,} test rows; "
            "an experiment between two equal models could never decide",
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
    positive = f"; lowest price {lowest.price:.2f} lakhs on the domain grid" if lowest else ""
    return GateDecision(
        True, EXIT_PUBLISHED, f"test R² {test_r2:.4f} >= {r2_floor:.4f}{versus}{positive}"
    )


def slot_model(store: ModelStore, slot: str, version: str, rows: Sequence[FeatureRow]) -> SlotModel:
    """The model in ``slot`` with its predictions on ``rows``, featurized with its own columns.

    Raises:
        ModelNotFoundError, ModelIntegrityError: the version cannot be loaded safely.
    """
    loaded = store.load(version)
    predicted = np.asarray(loaded.estimator.predict(feature_matrix(rows, loaded.columns)))
    digest = loaded.manifest.get("files", {}).get(MODEL_FILE)
    return SlotModel(slot, version, predicted.astype(float), digest)
