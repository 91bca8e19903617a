"""Each cleaning rule on a tiny hand-made DataFrame: which rows stay, and what they hold."""

import numpy as np
import pandas as pd
import pytest

from trainer import cleaning
from trainer.errors import CleaningError


def frame(**columns: list) -> pd.DataFrame:
    return pd.DataFrame(columns)


def priced(location_group: list[str], bhk: list[int], pps: list[float]) -> pd.DataFrame:
    return frame(location_group=location_group, bhk=bhk, price_per_sqft=pps)


def test_normalise_locations_strips_collapses_and_lowercases_and_blanks_become_missing() -> None:
    df = frame(location=["  Whitefield ", "Electronic  City Phase II", "   ", None])
    out = cleaning.normalise_locations(df)
    assert out["location"].iloc[0] == "whitefield"
    assert out["location"].iloc[1] == "electronic city phase ii"
    assert out["location"].iloc[2:].isna().all()


def test_drop_missing_only_looks_at_columns_the_model_uses() -> None:
    df = frame(
        location=["a", None, "c", "d", "e", "f", "g"],
        size=["2 BHK", "2 BHK", None, "2 BHK", "2 BHK", "2 BHK", "2 BHK"],
        total_sqft=["1000", "1000", "1000", None, "1000", "1000", "1000"],
        bath=[2.0, 2.0, 2.0, 2.0, np.nan, 2.0, 2.0],
        price=[50.0, 50.0, 50.0, 50.0, 50.0, np.nan, 50.0],
        society=[None, "s", "s", "s", "s", "s", None],
        balcony=[np.nan, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan],
    )
    assert list(cleaning.drop_missing(df).index) == [0, 6]


def test_add_bhk_takes_the_leading_integer_of_size() -> None:
    df = frame(size=["2 BHK", "4 Bedroom", "1 RK", "11 BHK", "BHK", "0 BHK"])
    out = cleaning.add_bhk(df)
    assert list(out.index) == [0, 1, 2, 3]
    assert list(out["bhk"]) == [2, 4, 1, 11]


def test_parse_total_sqft_takes_a_ranges_mean_and_drops_other_units() -> None:
    df = frame(
        total_sqft=[
            "1056",
            "1133 - 1384",
            "34.46Sq. Meter",
            "5.31Acres",
            "1200.5",
            "0",
            "4125Perch",
        ]
    )
    out = cleaning.parse_total_sqft(df)
    assert list(out.index) == [0, 1, 4]
    assert list(out["total_sqft"]) == [1056.0, 1258.5, 1200.5]


def test_price_per_sqft_is_price_in_lakhs_over_area_in_rupees() -> None:
    df = frame(price=[50.0, 120.0], total_sqft=[1000.0, 2400.0])
    out = cleaning.add_price_per_sqft(df)
    assert list(out["price_per_sqft"]) == [5000.0, 5000.0]


def test_locations_with_ten_rows_or_fewer_become_other_but_keep_their_name() -> None:
    df = frame(location=["big"] * 11 + ["small"] * 10 + ["tiny"])
    out = cleaning.group_rare_locations(df)
    assert set(out.loc[out["location"] == "big", "location_group"]) == {"big"}
    assert set(out.loc[out["location"] != "big", "location_group"]) == {"other"}
    assert set(out["location"]) == {"big", "small", "tiny"}


def test_one_bhk_homes_stay_and_under_300_sqft_per_bedroom_go() -> None:
    df = frame(total_sqft=[450.0, 299.0, 600.0, 899.0, 900.0], bhk=[1, 1, 2, 3, 3])
    out = cleaning.drop_small_bedrooms(df)
    assert list(out.index) == [0, 2, 4]


def test_price_per_sqft_outliers_are_cut_per_location_at_mean_plus_minus_population_std() -> None:
    # Location a: pps 1..5, mean 3, population std sqrt(2) = 1.414: 1 and 5 are
    # outside, 2, 3, 4 inside. Location b: 10, 10, 40 -> mean 20,
    # population std 14.14: 40 (above 34.14) goes, both 10s (above 5.86) stay.
    df = priced(["a"] * 5 + ["b"] * 3, [2] * 8, [1, 2, 3, 4, 5, 10, 10, 40])
    out = cleaning.drop_price_per_sqft_outliers(df)
    assert list(out.index) == [1, 2, 3, 5, 6]


def test_price_per_sqft_bounds_are_open_below_and_closed_above_as_the_old_stack() -> None:
    # pps 0, 0, 3, 3 -> mean 1.5, population std 1.5: bounds (0, 3]: 0 goes, 3 stays.
    # (With the sample std, 1.73, all four would stay.)
    df = priced(["a"] * 4, [2] * 4, [0, 0, 3, 3])
    assert list(cleaning.drop_price_per_sqft_outliers(df).index) == [2, 3]
    # One row alone has std 0, so it is never above its own mean: dropped.
    assert cleaning.drop_price_per_sqft_outliers(priced(["z"], [2], [5])).empty


def test_bhk_rows_cheaper_than_the_bhk_minus_one_mean_go_when_that_group_has_over_5_rows() -> None:
    # Location a: six 2-BHK rows averaging 5000; its 3-BHK row at 4000 goes, at 6000 stays.
    # Location b: only five 2-BHK rows, so its 3-BHK row at 1000 stays.
    two_bhk = [4000, 4500, 5000, 5000, 5500, 6000]
    df = priced(
        ["a"] * 8 + ["b"] * 6,
        [2] * 6 + [3, 3] + [2] * 5 + [3],
        [*two_bhk, 4000, 6000, 5000, 5000, 5000, 5000, 5000, 1000],
    )
    out = cleaning.drop_bhk_price_outliers(df)
    assert set(df.index) - set(out.index) == {6}


def test_bhk_rule_compares_with_the_same_location_only() -> None:
    # Six 1-BHK rows at 9000 in location a do not judge the 2-BHK row in location b.
    df = priced(["a"] * 6 + ["b"], [1] * 6 + [2], [9000] * 6 + [1000])
    assert len(cleaning.drop_bhk_price_outliers(df)) == 7


def test_excess_baths_go_when_bath_is_bhk_plus_two_or_more() -> None:
    df = frame(bath=[1, 3, 4, 5, 6], bhk=[2, 2, 2, 4, 4])
    out = cleaning.drop_excess_baths(df)
    assert list(out.index) == [0, 1, 3]


def raw_rows(location: str, n: int, *, bhk: int = 2, sqft: float = 1000.0) -> list[dict]:
    return [
        {
            "location": location,
            "size": f"{bhk} BHK",
            "total_sqft": str(sqft),
            "bath": 2.0,
            "price": 50.0 + i,
            "society": None,
            "balcony": np.nan,
        }
        for i in range(n)
    ]


def test_clean_applies_every_rule_and_counts_rows_after_each() -> None:
    raw = pd.DataFrame(
        raw_rows(" Whitefield", 12) + raw_rows("Hebbal", 3) + raw_rows("X", 1, bhk=4, sqft=900)
    )
    cleaned = cleaning.clean(raw)
    assert [name for name, _ in cleaned.steps] == ["raw"] + [r.__name__ for r in cleaning.RULES]
    assert cleaned.steps[0] == ("raw", 16)
    assert dict(cleaned.steps)["drop_small_bedrooms"] == 15  # 900 sqft / 4 bedrooms
    assert cleaned.model_locations == ["whitefield"]
    assert "hebbal" in cleaned.locations and "whitefield" in cleaned.locations
    assert cleaned.frame["bath"].dtype == np.int64 and cleaned.frame["bhk"].dtype == np.int64
    assert list(cleaned.frame.index) == list(range(len(cleaned.frame)))


def test_clean_refuses_data_without_a_model_column() -> None:
    with pytest.raises(CleaningError, match="total_sqft"):
        cleaning.clean(
            pd.DataFrame({"location": ["a"], "size": ["2 BHK"], "bath": [1], "price": [1]})
        )
