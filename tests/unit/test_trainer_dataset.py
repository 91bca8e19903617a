"""From cleaned rows to columns, split, domain and training distribution."""

import numpy as np
import pandas as pd

from pricing.features import FeatureRow
from trainer.cleaning import Cleaned
from trainer.dataset import (
    DRIFT_TOP_LOCATIONS,
    feature_domain,
    location_distribution,
    model_columns,
    split_dataset,
    training_distribution,
)


def cleaned_rows() -> Cleaned:
    frame = pd.DataFrame(
        {
            "location": ["whitefield"] * 6 + ["hebbal"] * 3 + ["rare place"],
            "location_group": ["whitefield"] * 6 + ["hebbal"] * 3 + ["other"],
            "total_sqft": [1000.0, 1100, 1200, 1300, 1400, 1500, 600, 700, 800, 2000],
            "bath": [1, 2, 2, 2, 3, 3, 1, 1, 2, 4],
            "bhk": [1, 2, 2, 2, 3, 3, 1, 1, 2, 4],
            "price": [50.0, 55, 60, 65, 70, 75, 30, 35, 40, 120],
        }
    )
    return Cleaned(frame, (("raw", 10),))


def test_columns_are_numeric_first_then_kept_locations_sorted_and_no_other() -> None:
    assert model_columns(cleaned_rows()) == ["total_sqft", "bath", "bhk", "hebbal", "whitefield"]


def test_the_split_is_fixed_by_the_seed_and_featurized_as_serving_does() -> None:
    first = split_dataset(cleaned_rows(), test_size=0.2, seed=7)
    again = split_dataset(cleaned_rows(), test_size=0.2, seed=7)
    assert first.rows_test == again.rows_test and len(first.rows_test) == 2
    assert np.array_equal(first.x_train, again.x_train)
    for rows, x in ((first.rows_train, first.x_train), (first.rows_test, first.x_test)):
        for row, features in zip(rows, x, strict=True):
            assert features[0] == row.total_sqft
            one_hot = features[3:]
            if row.location == "rare place":
                assert not one_hot.any()  # other is the all-zero baseline
            else:
                assert one_hot.sum() == 1
                assert first.columns[3 + int(one_hot.argmax())] == row.location


def test_the_domain_lists_every_location_including_the_ones_grouped_as_other() -> None:
    domain = feature_domain(cleaned_rows())
    assert domain["locations"] == ["hebbal", "rare place", "whitefield"]
    assert domain["model_locations"] == ["hebbal", "whitefield"]
    assert domain["total_sqft"] == [600.0, 2000.0]
    assert domain["bath"] == [1, 4] and domain["bhk"] == [1, 4]


def test_training_distribution_has_decile_edges_and_shares_summing_to_one() -> None:
    split = split_dataset(cleaned_rows(), test_size=0.2, seed=7)
    distribution = training_distribution(split.rows_train)
    assert set(distribution) == {"total_sqft", "bath", "bhk", "location"}
    for feature in (distribution[name] for name in ("total_sqft", "bath", "bhk")):
        edges, shares = feature["edges"], feature["shares"]
        assert edges == sorted(set(edges)) and len(shares) == len(edges) - 1
        assert abs(sum(shares) - 1.0) < 1e-9
    sqft = sorted(row.total_sqft for row in split.rows_train)
    assert distribution["total_sqft"]["edges"][0] == sqft[0]
    assert distribution["total_sqft"]["edges"][-1] == sqft[-1]


def test_location_distribution_keeps_the_top_locations_and_folds_the_rest_into_other() -> None:
    # Given one common location, a tie pair, and more rare names than the top holds
    rows = [FeatureRow("Whitefield ", 1000.0, 2, 2)] * 30
    rows += [FeatureRow("hebbal", 1000.0, 2, 2)] * 5 + [FeatureRow("agara", 1000.0, 2, 2)] * 5
    rows += [FeatureRow(f"place {i:02d}", 1000.0, 2, 2) for i in range(DRIFT_TOP_LOCATIONS + 5)]
    rows += [FeatureRow("other", 1000.0, 2, 2)] * 3
    distribution = location_distribution(rows)
    categories, shares = distribution["categories"], distribution["shares"]
    # Then the most common come first (ties by name), normalised, and other is last
    assert categories[:3] == ["whitefield", "agara", "hebbal"]
    assert len(categories) == DRIFT_TOP_LOCATIONS + 1 and categories[-1] == "other"
    assert categories.count("other") == 1
    assert shares[0] == 30 / len(rows)
    listed = 30 + 5 + 5 + (DRIFT_TOP_LOCATIONS - 3)
    assert shares[-1] == (len(rows) - listed) / len(rows)
    assert abs(sum(shares) - 1.0) < 1e-9
