"""The cleaning rules: the old stack's, one small pure function each, applied in ``RULES`` order.

Each rule takes a DataFrame and returns a new one; the index is kept, so a test (or
``clean``'s step counts) can see exactly which rows a rule dropped. The order is the
old stack's: parse, group rare locations, then drop outliers per (grouped) location.

Differences from the old stack, on purpose:

- a row is dropped for a missing value only in a column the model uses (location,
  size, total_sqft, bath, price), never for society or balcony;
- locations are compared stripped, whitespace-collapsed and lowercased (as
  ``pricing.features.normalise_location``), so "Whitefield " and "whitefield" are one;
- 1-BHK homes are kept; rows with under 300 sqft per bedroom are dropped instead.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from pricing.features import normalise_location
from trainer.errors import CleaningError

#: Columns the model uses: a row missing any of them is dropped.
REQUIRED_COLUMNS = ("location", "size", "total_sqft", "bath", "price")
#: The group of rare locations; it gets no one-hot column (the all-zero baseline).
OTHER = "other"
#: A location with at most this many rows is grouped into ``other``.
RARE_LOCATION_MAX_ROWS = 10
MIN_SQFT_PER_BEDROOM = 300.0
#: The bhk-1 group is a baseline only when it has more than this many rows.
BHK_BASELINE_MIN_ROWS = 5
#: Lakhs to rupees (price is in lakhs).
RUPEES_PER_LAKH = 100_000

_RANGE = r"^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$"
_NUMBER = r"^\s*(\d+(?:\.\d+)?)\s*$"

Rule = Callable[[pd.DataFrame], pd.DataFrame]


def normalise_locations(df: pd.DataFrame) -> pd.DataFrame:
    """Strip, collapse inner whitespace and lowercase ``location``; blank becomes missing."""
    out = df.copy()
    names = out["location"].map(normalise_location, na_action="ignore")
    out["location"] = names.where(names.fillna("") != "", pd.NA)
    return out


def drop_missing(df: pd.DataFrame) -> pd.DataFrame:
    """Drop rows missing a column the model uses (``REQUIRED_COLUMNS``); others may be empty."""
    return df.dropna(subset=list(REQUIRED_COLUMNS))


def add_bhk(df: pd.DataFrame) -> pd.DataFrame:
    """``bhk`` is the leading integer of ``size`` ("2 BHK" -> 2, "4 Bedroom" -> 4, "1 RK" -> 1).

    A size without a leading integer, or with 0 bedrooms, is dropped (the per-bedroom
    rule divides by bhk).
    """
    out = df.copy()
    leading = out["size"].astype("string").str.extract(r"^\s*(\d+)", expand=False)
    out["bhk"] = pd.to_numeric(leading, errors="coerce")
    return out[out["bhk"].fillna(0) >= 1]


def parse_total_sqft(df: pd.DataFrame) -> pd.DataFrame:
    """``total_sqft`` becomes a number: "1133 - 1384" is the range's mean (1258.5).

    Anything else that is not a plain number ("34.46Sq. Meter", "5.31Acres") is dropped,
    as is a zero area.
    """
    out = df.copy()
    text = out["total_sqft"].astype("string")
    bounds = text.str.extract(_RANGE).apply(pd.to_numeric, errors="coerce")
    single = pd.to_numeric(text.str.extract(_NUMBER, expand=False), errors="coerce")
    out["total_sqft"] = bounds.mean(axis=1, skipna=False).fillna(single).astype("float64")
    return out[out["total_sqft"].fillna(0) > 0]


def add_price_per_sqft(df: pd.DataFrame) -> pd.DataFrame:
    """``price_per_sqft`` in rupees: ``price * 100000 / total_sqft`` (price is in lakhs)."""
    out = df.copy()
    out["price_per_sqft"] = out["price"] * RUPEES_PER_LAKH / out["total_sqft"]
    return out


def group_rare_locations(df: pd.DataFrame) -> pd.DataFrame:
    """``location_group`` is the location, or ``other`` when it has at most 10 rows here.

    Rows are counted at this point of the pipeline (after parsing, before the outlier
    rules), as the old stack did. ``location`` keeps the name itself, so the model's
    domain can list every location it has seen, grouped ones included.
    """
    out = df.copy()
    counts = out["location"].map(out["location"].value_counts())
    out["location_group"] = out["location"].where(counts > RARE_LOCATION_MAX_ROWS, OTHER)
    return out


def drop_small_bedrooms(df: pd.DataFrame) -> pd.DataFrame:
    """Drop rows with under 300 sqft per bedroom (``total_sqft / bhk < 300``).

    This replaces the old stack's ``bhk < 2`` drop: 1-BHK homes stay.
    """
    return df[~(df["total_sqft"] / df["bhk"] < MIN_SQFT_PER_BEDROOM)]


def drop_price_per_sqft_outliers(df: pd.DataFrame) -> pd.DataFrame:
    """Per ``location_group``, keep rows with ``mean - std < price_per_sqft <= mean + std``.

    The std is the population std (ddof=0), numpy's default, which the old stack used;
    the bounds are the old stack's too (open below, closed above). So a group whose
    rows all share one price per sqft (std 0), such as a single row, is dropped whole.
    """
    groups = df.groupby("location_group")["price_per_sqft"]
    mean = groups.transform("mean")
    std = groups.transform("std", ddof=0)
    pps = df["price_per_sqft"]
    return df[(pps > mean - std) & (pps <= mean + std)]


def drop_bhk_price_outliers(df: pd.DataFrame) -> pd.DataFrame:
    """Drop a row priced per sqft below the mean of its location's bhk-1 homes.

    Within one ``location_group``, a 3-BHK home cheaper per sqft than the 2-BHK mean is
    taken as mislabelled. The bhk-1 group counts only with more than 5 rows. The means
    are those of the rows given, all taken before any row is dropped.
    """
    stats = df.groupby(["location_group", "bhk"])["price_per_sqft"].agg(["mean", "count"])
    baseline = pd.MultiIndex.from_arrays([df["location_group"], df["bhk"] - 1])
    below = stats.reindex(baseline)
    below.index = df.index
    cheaper = (below["count"] > BHK_BASELINE_MIN_ROWS) & (df["price_per_sqft"] < below["mean"])
    return df[~cheaper.fillna(False).astype(bool)]


def drop_excess_baths(df: pd.DataFrame) -> pd.DataFrame:
    """Keep rows with ``bath < bhk + 2``, the old stack's rule, exactly.

    So a home with bhk + 2 or more bathrooms is dropped (4 bedrooms: at most 5 baths).
    """
    return df[df["bath"] < df["bhk"] + 2]


#: Every rule, in the order ``clean`` applies them.
RULES: tuple[Rule, ...] = (
    normalise_locations,
    drop_missing,
    add_bhk,
    parse_total_sqft,
    add_price_per_sqft,
    group_rare_locations,
    drop_small_bedrooms,
    drop_price_per_sqft_outliers,
    drop_bhk_price_outliers,
    drop_excess_baths,
)


@dataclass(frozen=True)
class Cleaned:
    """The cleaned rows, and how many rows were left after each rule."""

    frame: pd.DataFrame
    steps: tuple[tuple[str, int], ...]

    @property
    def model_locations(self) -> list[str]:
        """The locations that get a one-hot column: every group but ``other``, sorted."""
        return sorted(set(self.frame["location_group"]) - {OTHER})

    @property
    def locations(self) -> list[str]:
        """Every location name left, the ones grouped into ``other`` included, sorted."""
        return sorted(set(self.frame["location"]))


def clean(raw: pd.DataFrame) -> Cleaned:
    """Apply ``RULES`` in order; bath and bhk come out as integers, the index as 0..n-1.

    Raises:
        CleaningError: a required column is absent, or no row is left.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise CleaningError(f"the data set has no column {', '.join(missing)}")
    df = raw
    steps = [("raw", len(df))]
    for rule in RULES:
        df = rule(df)
        steps.append((rule.__name__, len(df)))
    if df.empty:
        raise CleaningError("no row is left after cleaning")
    df = df.astype({"bath": "int64", "bhk": "int64", "price": "float64"}).reset_index(drop=True)
    return Cleaned(df, tuple(steps))
