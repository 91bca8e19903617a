"""The analysis views of schemas/clickhouse/views.sql on embedded ClickHouse (chDB).

A synthetic experiment (tests/integration/synthetic_experiment.py) goes into the event
tables as the sink lays it out, duplicates included; each view's numbers are compared
with the same numbers computed in Python from the same events.
"""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from scipy.stats import chisquare

from plumbing.clickhouse import ChdbClickHouse, create_tables
from schemas.registry import view_ddl
from tests.integration.synthetic_experiment import (
    CANDIDATE_SHARE,
    CANDIDATE_VERSION,
    EXPERIMENT,
    PROD_ONLY,
    World,
    build_world,
    expected_paired,
    expected_psi,
    expected_summary,
    load_world,
    served_frame,
)

DATABASE = "splitstream_views"
SUMMARY_COLUMNS = (
    "requests",
    "replies",
    "timeouts",
    "errors",
    "latency_ms_p50",
    "latency_ms_p95",
    "latency_ms_p99",
    "latency_ms_sum",
    "feedback",
    "abs_error_sum",
    "abs_error_sq_sum",
    "mae",
    "rmse",
)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=7)


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory, world: World) -> Iterator[ChdbClickHouse]:
    path: Path = tmp_path_factory.mktemp("chdb-views")
    clickhouse = ChdbClickHouse(str(path), DATABASE)
    create_tables(clickhouse, DATABASE)
    load_world(clickhouse, world)
    yield clickhouse
    clickhouse.close()


def _view(chdb: ChdbClickHouse, sql: str, **params: object) -> pd.DataFrame:
    return chdb.query_df(sql.replace("$db", DATABASE), params=params or None)


def _assert_same(actual: object, expected: object, what: str) -> None:
    if expected is None:
        assert actual is None or pd.isna(actual), what
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), what


def test_every_view_of_the_file_exists(chdb: ChdbClickHouse) -> None:
    names = {s.split(" AS")[0].split(".")[-1] for s in view_ddl(DATABASE)}
    tables = _view(chdb, "SELECT name FROM system.tables WHERE database = {db:String}", db=DATABASE)
    assert names == {
        "v_served_requests",
        "v_variant_summary",
        "v_variant_hourly",
        "v_srm",
        "v_paired",
        "v_drift_bins",
        "v_drift_psi",
        "v_drift_psi_hourly",
        "v_feedback_corrections",
    }
    assert names <= set(tables["name"])


def test_duplicates_were_inserted_but_each_request_counts_once(
    chdb: ChdbClickHouse, world: World
) -> None:
    raw = _view(chdb, "SELECT count() AS n FROM $db.requests WHERE NOT shadow")
    served = _view(
        chdb, "SELECT count() AS n, uniqExact(request_id) AS ids FROM $db.v_served_requests"
    )
    distinct = len({r.request_id for r in world.requests if not r.shadow})
    print(f"raw request rows {raw['n'][0]}, served requests {served['n'][0]}")
    assert raw["n"][0] > distinct
    assert served["n"][0] == served["ids"][0] == distinct


def test_variant_summary_matches_python(chdb: ChdbClickHouse, world: World) -> None:
    served = served_frame(world)
    view = _view(chdb, "SELECT * FROM $db.v_variant_summary")
    assert len(view) == served.groupby(["experiment_id", "variant"]).ngroups == 3
    for row in view.itertuples():
        group = served[
            (served["experiment_id"] == row.experiment_id) & (served["variant"] == row.variant)
        ]
        expected = expected_summary(group)
        for column in SUMMARY_COLUMNS:
            _assert_same(getattr(row, column), expected[column], f"{row.variant} {column}")
        assert row.error_rate == pytest.approx(expected["errors"] / expected["requests"])
    experiment = view[view["experiment_id"] == EXPERIMENT].set_index("variant")
    assert experiment.loc["prod", "timeouts"] > 0 and experiment.loc["candidate", "feedback"] > 0
    assert experiment.loc["candidate", "model_versions"] == CANDIDATE_VERSION


def test_hourly_series_matches_python(chdb: ChdbClickHouse, world: World) -> None:
    served = served_frame(world)
    served["hour"] = pd.to_datetime(served["occurred_at"]).dt.floor("h")
    view = _view(
        chdb, "SELECT * FROM $db.v_variant_hourly WHERE experiment_id = {e:String}", e=EXPERIMENT
    )
    groups = served[served["experiment_id"] == EXPERIMENT].groupby(["variant", "hour"])
    assert len(view) == groups.ngroups >= 6
    for row in view.itertuples():
        hour = pd.Timestamp(row.hour)
        hour = hour.tz_localize("UTC") if hour.tzinfo is None else hour.tz_convert("UTC")
        expected = expected_summary(groups.get_group((row.variant, hour)))
        for column in SUMMARY_COLUMNS:
            _assert_same(getattr(row, column), expected[column], f"{row.variant} {hour} {column}")
    assert view["requests"].sum() == (served["experiment_id"] == EXPERIMENT).sum()


def test_srm_p_value_is_the_chi_square_test_of_the_expected_split(
    chdb: ChdbClickHouse, world: World
) -> None:
    served = served_frame(world)
    counts = served[served["experiment_id"] == EXPERIMENT]["variant"].value_counts()
    n = int(counts.sum())
    expected = chisquare(
        [counts["prod"], counts["candidate"]], [n * (1 - CANDIDATE_SHARE), n * CANDIDATE_SHARE]
    )
    view = _view(
        chdb, "SELECT * FROM $db.v_srm(candidate_share = {share:Float64})", share=CANDIDATE_SHARE
    ).set_index("experiment_id")
    row = view.loc[EXPERIMENT]
    assert (row["prod_requests"], row["candidate_requests"]) == (
        counts["prod"],
        counts["candidate"],
    )
    assert row["chi2"] == pytest.approx(expected.statistic, rel=1e-9)
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)
    print(f"SRM chi2 {row['chi2']:.3f} p {row['p_value']:.3g} (scipy {expected.pvalue:.3g})")
    # A prod-only experiment expects no candidate traffic: there is no split to test
    assert (
        pd.isna(view.loc[PROD_ONLY, "p_value"]) and view.loc[PROD_ONLY, "candidate_requests"] == 0
    )


def test_srm_of_the_observed_share_is_not_a_mismatch(chdb: ChdbClickHouse) -> None:
    view = _view(chdb, "SELECT * FROM $db.v_srm(candidate_share = 0.2)").set_index("experiment_id")
    observed = float(view.loc[EXPERIMENT, "observed_candidate_share"])
    again = _view(
        chdb,
        "SELECT p_value FROM $db.v_srm(candidate_share = {s:Float64})"
        " WHERE experiment_id = {e:String}",
        s=observed,
        e=EXPERIMENT,
    )
    assert again["p_value"][0] == pytest.approx(1.0)


def test_paired_differences_match_python(chdb: ChdbClickHouse, world: World) -> None:
    expected = expected_paired(world)
    view = _view(chdb, "SELECT * FROM $db.v_paired").set_index("experiment_id")
    assert list(view.index) == [EXPERIMENT]  # the prod-only experiment has no shadow scoring
    row = view.loc[EXPERIMENT]
    assert row["pairs"] == expected["pairs"] > 10
    assert row["diff_sum"] == pytest.approx(expected["diff_sum"], rel=1e-9)
    assert row["diff_sq_sum"] == pytest.approx(expected["diff_sq_sum"], rel=1e-9)
    assert row["diff_mean"] == pytest.approx(expected["diff_sum"] / expected["pairs"])


def test_drift_psi_per_feature_matches_python(chdb: ChdbClickHouse, world: World) -> None:
    expected = expected_psi(world)
    view = _view(chdb, "SELECT * FROM $db.v_drift_psi")
    got = {
        (r.experiment_id, r.variant, r.model_version, r.feature): (r.requests, r.psi)
        for r in view.itertuples()
    }
    assert set(got) == set(expected) and len(got) == 3 * 4
    for key, (requests, value) in expected.items():
        assert got[key][0] == requests, key
        assert got[key][1] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # The candidate's traffic is drawn shifted from prod's, and its model trained on yet another mix
    shares = view[view["feature"] == "location"]
    assert all(abs(sum(s) - 1.0) < 1e-9 for s in shares["live_shares"])
    print(view[["variant", "model_version", "feature", "requests", "psi"]].to_string())


def test_drift_psi_per_hour_matches_python(chdb: ChdbClickHouse, world: World) -> None:
    expected = expected_psi(world, hourly=True)
    view = _view(chdb, "SELECT * FROM $db.v_drift_psi_hourly")
    got = {
        (
            r.experiment_id,
            r.variant,
            r.model_version,
            r.feature,
            pd.Timestamp(r.hour).tz_localize(None),
        ): (r.requests, r.psi)
        for r in view.itertuples()
    }
    assert set(got) == set(expected)
    assert len({key[4] for key in got}) >= 3  # the world spans three hours or more
    for key, (requests, value) in expected.items():
        assert got[key][0] == requests, key
        assert got[key][1] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    # Each hour's requests add up to the whole (v_drift_psi)
    whole = _view(chdb, "SELECT * FROM $db.v_drift_psi")
    for row in whole.itertuples():
        hours = view[
            (view["variant"] == row.variant)
            & (view["model_version"] == row.model_version)
            & (view["feature"] == row.feature)
            & (view["experiment_id"] == row.experiment_id)
        ]
        assert hours["requests"].sum() == row.requests


def test_creating_the_views_again_keeps_their_numbers(chdb: ChdbClickHouse) -> None:
    before = _view(chdb, "SELECT * FROM $db.v_variant_summary ORDER BY experiment_id, variant")
    create_tables(chdb, DATABASE)
    after = _view(chdb, "SELECT * FROM $db.v_variant_summary ORDER BY experiment_id, variant")
    pd.testing.assert_frame_equal(before, after)


def test_feedback_counts_once_per_request_the_first_and_later_ones_are_corrections(
    chdb: ChdbClickHouse, world: World
) -> None:
    priced = [f for f in world.feedback if f.actual_price_lakhs is not None]
    first: dict[str, float] = {}
    for item in sorted(priced, key=lambda f: (f.occurred_at, f.event_id)):
        first.setdefault(item.request_id, item.actual_price_lakhs)  # type: ignore[arg-type]
    corrections = _view(chdb, "SELECT * FROM $db.v_feedback_corrections")
    served = _view(
        chdb,
        "SELECT request_id, actual_price_lakhs FROM $db.v_served_requests "
        "WHERE actual_price_lakhs IS NOT NULL",
    )

    assert len(corrections) == len(priced) - len(first) > 0
    assert corrections["request_id"].is_unique  # the world corrects each request once
    assert all(first[r.request_id] == r.counted_price_lakhs for r in corrections.itertuples())
    assert all(first[r.request_id] != r.corrected_price_lakhs for r in corrections.itertuples())
    assert dict(zip(served["request_id"], served["actual_price_lakhs"], strict=True)) == first
