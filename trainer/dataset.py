"""From cleaned rows to the model's inputs: columns, the split, the domain and distribution.

The matrices are built with ``pricing.features.feature_matrix`` from ``FeatureRow``s that
carry each row's own location name, exactly as serving builds them: a location without
a column (one grouped into ``other``) is the all-zero baseline.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from pricing.features import NUMERIC_COLUMNS, FeatureRow, feature_matrix, normalise_location
from trainer.cleaning import OTHER, Cleaned

DECILES = np.linspace(0.0, 1.0, 11)
#: Locations with a share of their own in the training distribution; the rest are ``other``.
#: Few enough that each bin holds enough live requests for a stable PSI.
DRIFT_TOP_LOCATIONS = 20


@dataclass(frozen=True)
class Split:
    """The train and test parts: feature rows, their matrices, and prices in lakhs."""

    columns: list[str]
    rows_train: list[FeatureRow]
    rows_test: list[FeatureRow]
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def model_columns(cleaned: Cleaned) -> list[str]:
    """``total_sqft, bath, bhk``, then one column per kept location (lowercase, sorted)."""
    return [*NUMERIC_COLUMNS, *cleaned.model_locations]


def feature_rows(cleaned: Cleaned) -> list[FeatureRow]:
    frame = cleaned.frame
    return [
        FeatureRow(str(location), float(sqft), int(bath), int(bhk))
        for location, sqft, bath, bhk in zip(
            frame["location"], frame["total_sqft"], frame["bath"], frame["bhk"], strict=True
        )
    ]


def split_dataset(cleaned: Cleaned, *, test_size: float, seed: int) -> Split:
    """Hold out ``test_size`` of the rows, shuffled with ``seed`` (same seed, same split)."""
    rows = feature_rows(cleaned)
    prices = cleaned.frame["price"].to_numpy(dtype=np.float64)
    train_idx, test_idx = train_test_split(
        np.arange(len(rows)), test_size=test_size, random_state=seed, shuffle=True
    )
    columns = model_columns(cleaned)
    rows_train = [rows[i] for i in train_idx]
    rows_test = [rows[i] for i in test_idx]
    return Split(
        columns=columns,
        rows_train=rows_train,
        rows_test=rows_test,
        x_train=feature_matrix(rows_train, columns),
        x_test=feature_matrix(rows_test, columns),
        y_train=prices[train_idx],
        y_test=prices[test_idx],
    )


def feature_domain(cleaned: Cleaned) -> dict[str, Any]:
    """What the model has seen, for the manifest's ``feature_domain``.

    ``locations`` is every cleaned location name, the ones grouped into ``other``
    included (serving accepts them as ``other``); ``model_locations`` the one-hot
    columns; each numeric feature its [min, max] over the cleaned rows.
    """
    frame = cleaned.frame
    return {
        "locations": cleaned.locations,
        "model_locations": cleaned.model_locations,
        "total_sqft": [float(frame["total_sqft"].min()), float(frame["total_sqft"].max())],
        "bath": [int(frame["bath"].min()), int(frame["bath"].max())],
        "bhk": [int(frame["bhk"].min()), int(frame["bhk"].max())],
    }


def training_distribution(rows: list[FeatureRow]) -> dict[str, dict[str, list[Any]]]:
    """Per feature, the training rows' bins and each bin's share (the drift view's reference).

    Numeric features: ``edges`` are the distinct deciles (min, 10 %, ..., max), so a
    discrete feature such as bhk has fewer bins. Bins are ``[edges[i], edges[i+1])``,
    the last one closed; ``shares`` sum to 1. The PSI view bins live values the same
    way (values outside [min, max] into the first or last bin) and compares the shares.
    ``location``: see ``location_distribution``.
    """
    out: dict[str, dict[str, list[Any]]] = {}
    for name in NUMERIC_COLUMNS:
        values = np.array([getattr(row, name) for row in rows], dtype=np.float64)
        edges = np.unique(np.quantile(values, DECILES))
        if len(edges) == 1:
            out[name] = {"edges": [float(edges[0]), float(edges[0])], "shares": [1.0]}
            continue
        counts, _ = np.histogram(values, bins=edges)
        out[name] = {
            "edges": [float(e) for e in edges],
            "shares": [float(c) / len(values) for c in counts],
        }
    out["location"] = location_distribution(rows)
    return out


def location_distribution(rows: list[FeatureRow]) -> dict[str, list[Any]]:
    """The ``DRIFT_TOP_LOCATIONS`` most common locations (ties by name), then ``other``.

    ``categories`` are normalised names, the last one always ``other`` (every location not
    listed, its share possibly 0); ``shares`` are the training rows' shares and sum to 1.
    """
    counts = Counter(normalise_location(row.location) for row in rows)
    counts.pop(OTHER, None)  # a location literally named "other" belongs to the rest
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:DRIFT_TOP_LOCATIONS]
    rest = len(rows) - sum(count for _, count in ranked)
    return {
        "categories": [name for name, _ in ranked] + [OTHER],
        "shares": [float(count) / len(rows) for _, count in ranked] + [float(rest) / len(rows)],
    }
