"""The model's feature space: one-hot locations plus sqft, bath and bhk.

Columns follow the old stack's ``columns.json``: ``total_sqft, bath, bhk``,
then one column per location, lowercased. A location without a column (the
``other`` group) is the all-zero baseline.
"""

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

NUMERIC_COLUMNS = ("total_sqft", "bath", "bhk")


class FeatureRow(NamedTuple):
    location: str
    total_sqft: float
    bath: int
    bhk: int


def normalise_location(name: str) -> str:
    """Matching ignores case and surrounding spaces."""
    return " ".join(name.split()).lower()


def feature_matrix(rows: Sequence[FeatureRow], columns: Sequence[str]) -> np.ndarray:
    """One row per request, in ``columns`` order, ready for a single predict call."""
    index = {name: i for i, name in enumerate(columns)}
    matrix = np.zeros((len(rows), len(columns)), dtype=np.float64)
    for r, row in enumerate(rows):
        matrix[r, 0:3] = (row.total_sqft, row.bath, row.bhk)
        column = index.get(normalise_location(row.location))
        if column is not None and column >= len(NUMERIC_COLUMNS):
            matrix[r, column] = 1.0
    return matrix


@dataclass(frozen=True)
class DomainViolation:
    """Why an input is outside what the model saw in training."""

    field: str
    message: str
    allowed: Any


@dataclass(frozen=True)
class FeatureDomain:
    """What a model version saw in training, from its manifest's ``feature_domain``."""

    locations: frozenset[str]
    total_sqft: tuple[float, float]
    bath: tuple[int, int]
    bhk: tuple[int, int]

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "FeatureDomain":
        domain = manifest["feature_domain"]
        return cls(
            locations=frozenset(normalise_location(n) for n in domain["locations"]),
            total_sqft=(float(domain["total_sqft"][0]), float(domain["total_sqft"][1])),
            bath=(int(domain["bath"][0]), int(domain["bath"][1])),
            bhk=(int(domain["bhk"][0]), int(domain["bhk"][1])),
        )

    def nearest_locations(self, name: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(normalise_location(name), self.locations, n=n, cutoff=0.5)

    def violation(self, row: FeatureRow) -> DomainViolation | None:
        """The first field outside the domain, or None when the row is inside it."""
        if normalise_location(row.location) not in self.locations:
            nearest = self.nearest_locations(row.location)
            return DomainViolation("location", f"unknown location {row.location!r}", nearest)
        for field in NUMERIC_COLUMNS:
            low, high = getattr(self, field)
            value = getattr(row, field)
            if not low <= value <= high:
                message = f"{field}={value} is outside the trained range [{low}, {high}]"
                return DomainViolation(field, message, [low, high])
        return None
