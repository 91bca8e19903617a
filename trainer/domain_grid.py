"""A grid over the whole feature domain a model will be asked about, and its lowest answer.

Serving accepts any request inside the trained domain, field by field: a known location
(or ``other``), and total_sqft, bath and bhk each within their trained [min, max]. The
grid covers that box: every location column plus the ``other`` baseline, every integer
bath and bhk, and ``SQFT_POINTS`` areas spaced evenly in log scale between the smallest
and the largest, both included. The gate refuses a model whose lowest answer on it is
not a positive, finite price.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pricing.features import NUMERIC_COLUMNS, FeatureRow, normalise_location
from trainer.cleaning import OTHER

#: Areas per location and room count, from the smallest to the largest, log-spaced.
SQFT_POINTS = 10


@dataclass(frozen=True)
class LowestPrice:
    """The lowest price a model answers on the grid, where, and how many answers it checked."""

    price: float
    row: FeatureRow
    rows_checked: int

    @property
    def positive(self) -> bool:
        return bool(np.isfinite(self.price) and self.price > 0)


def grid_numbers(domain: dict[str, Any]) -> np.ndarray:
    """Every (total_sqft, bath, bhk) of the grid, one row each."""
    low, high = float(domain["total_sqft"][0]), float(domain["total_sqft"][1])
    areas = np.unique(np.geomspace(low, high, SQFT_POINTS)) if high > low else np.array([low])
    baths = np.arange(int(domain["bath"][0]), int(domain["bath"][1]) + 1)
    bhks = np.arange(int(domain["bhk"][0]), int(domain["bhk"][1]) + 1)
    mesh = np.meshgrid(areas, baths, bhks, indexing="ij")
    return np.column_stack([axis.ravel() for axis in mesh]).astype(np.float64)


def grid_locations(domain: dict[str, Any]) -> list[str]:
    """Every location with a column, then the ``other`` baseline (all location columns 0)."""
    return [*domain["model_locations"], OTHER]


def location_matrix(numbers: np.ndarray, location: str, columns: Sequence[str]) -> np.ndarray:
    """The grid at one location, as ``pricing.features.feature_matrix`` would build it."""
    matrix = np.zeros((len(numbers), len(columns)), dtype=np.float64)
    matrix[:, : len(NUMERIC_COLUMNS)] = numbers
    column = {name: i for i, name in enumerate(columns)}.get(normalise_location(location))
    if column is not None and column >= len(NUMERIC_COLUMNS):
        matrix[:, column] = 1.0
    return matrix


def lowest_price(estimator: Any, domain: dict[str, Any], columns: Sequence[str]) -> LowestPrice:
    """The lowest price ``estimator`` answers anywhere on the domain grid (NaN counts as
    lower than any price), one location at a time."""
    numbers = grid_numbers(domain)
    lowest: LowestPrice | None = None
    for location in grid_locations(domain):
        predicted = np.asarray(
            estimator.predict(location_matrix(numbers, location, columns)), dtype=float
        )
        ranked = np.where(np.isnan(predicted), -np.inf, predicted)
        index = int(np.argmin(ranked))
        price = float(predicted[index])
        if lowest is None or ranked[index] < _rank(lowest.price):
            sqft, bath, bhk = numbers[index]
            lowest = LowestPrice(price, FeatureRow(location, float(sqft), int(bath), int(bhk)), 0)
    if lowest is None:
        raise ValueError("the feature domain has no location to check")
    return LowestPrice(lowest.price, lowest.row, len(numbers) * len(grid_locations(domain)))


def _rank(price: float) -> float:
    """NaN ranks below every price: a model that answers NaN somewhere fails first."""
    return -np.inf if np.isnan(price) else price
