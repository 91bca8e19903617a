"""The domain grid: it covers the whole box serving accepts, and finds the lowest answer."""

import numpy as np

from pricing.features import NUMERIC_COLUMNS, FeatureRow, feature_matrix
from trainer.domain_grid import (
    SQFT_POINTS,
    grid_locations,
    grid_numbers,
    location_matrix,
    lowest_price,
)

DOMAIN = {
    "model_locations": ["whitefield", "sarjapur"],
    "locations": ["whitefield", "sarjapur", "tiny place"],
    "total_sqft": [300.0, 30_000.0],
    "bath": [1, 3],
    "bhk": [1, 4],
}
COLUMNS = [*NUMERIC_COLUMNS, "whitefield", "sarjapur"]


def test_the_grid_covers_every_corner_and_every_room_count() -> None:
    numbers = grid_numbers(DOMAIN)
    assert len(numbers) == SQFT_POINTS * 3 * 4
    assert numbers[:, 0].min() == 300.0 and numbers[:, 0].max() == 30_000.0
    assert set(numbers[:, 1]) == {1, 2, 3} and set(numbers[:, 2]) == {1, 2, 3, 4}
    assert grid_locations(DOMAIN) == ["whitefield", "sarjapur", "other"]


def test_a_location_matrix_is_what_serving_builds() -> None:
    numbers = grid_numbers(DOMAIN)
    for location in grid_locations(DOMAIN):
        rows = [FeatureRow(location, a, int(b), int(k)) for a, b, k in numbers]
        assert np.array_equal(
            location_matrix(numbers, location, COLUMNS), feature_matrix(rows, COLUMNS)
        )


class Linear:
    """price = 0.01 sqft - 20 bhk + 30 in sarjapur: negative for small many-room homes."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        result: np.ndarray = 0.01 * x[:, 0] - 20.0 * x[:, 2] + 30.0 * x[:, 4]
        return result


def test_the_lowest_answer_is_found_with_where_it_is() -> None:
    lowest = lowest_price(Linear(), DOMAIN, COLUMNS)
    assert lowest.price == 0.01 * 300 - 20 * 4
    assert (lowest.row.total_sqft, lowest.row.bhk) == (300.0, 4)
    assert lowest.row.location in ("whitefield", "other")
    assert lowest.rows_checked == SQFT_POINTS * 3 * 4 * 3
    assert not lowest.positive


def test_a_nan_anywhere_counts_as_not_positive() -> None:
    class Broken:
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.where(x[:, 3] == 1, np.nan, 50.0)

    lowest = lowest_price(Broken(), DOMAIN, COLUMNS)
    assert lowest.row.location == "whitefield" and not lowest.positive
