"""Featurisation and the trained feature domain."""

import numpy as np

from pricing.features import FeatureDomain, FeatureRow, feature_matrix, normalise_location

COLUMNS = ["total_sqft", "bath", "bhk", "1st block jayanagar", "whitefield"]
DOMAIN = FeatureDomain.from_manifest(
    {
        "feature_domain": {
            "locations": ["1st Block Jayanagar", "whitefield", "tiny place"],
            "total_sqft": [300, 30000],
            "bath": [1, 10],
            "bhk": [1, 10],
        }
    }
)


def test_rows_become_numeric_columns_and_one_hot_location() -> None:
    rows = [
        FeatureRow(" 1st Block JAYANAGAR ", 1000.0, 2, 2),
        FeatureRow("tiny place", 600.0, 1, 1),
    ]
    matrix = feature_matrix(rows, COLUMNS)
    assert matrix.tolist() == [[1000.0, 2, 2, 1, 0], [600.0, 1, 1, 0, 0]]
    assert matrix.dtype == np.float64


def test_location_matching_ignores_case_and_spaces() -> None:
    assert normalise_location("  Electronic   City ") == "electronic city"


def test_a_location_grouped_as_other_is_inside_the_domain() -> None:
    assert DOMAIN.violation(FeatureRow("Tiny Place", 600.0, 1, 1)) is None


def test_an_unknown_location_is_refused_with_the_nearest_known_names() -> None:
    violation = DOMAIN.violation(FeatureRow("whitefeld", 600.0, 1, 1))
    assert violation is not None
    assert violation.field == "location"
    assert violation.allowed[0] == "whitefield"


def test_a_number_outside_the_trained_range_names_field_and_range() -> None:
    violation = DOMAIN.violation(FeatureRow("whitefield", 100.0, 1, 1))
    assert violation is not None
    assert (violation.field, violation.allowed) == ("total_sqft", [300.0, 30000.0])
