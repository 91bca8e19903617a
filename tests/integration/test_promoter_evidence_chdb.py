"""The promoter's evidence queries on embedded ClickHouse, against the same synthetic
experiment the views are checked with: the numbers it decides on are the views' numbers."""

from collections.abc import Iterator
from datetime import timedelta

import pandas as pd
import pytest

from plumbing.clickhouse import ChdbClickHouse, create_tables
from promoter.evidence import experiment_stats, watch_stats
from tests.integration.test_views_support import (
    CANDIDATE_SHARE,
    CANDIDATE_VERSION,
    EXPERIMENT,
    PROD_VERSION,
    World,
    build_world,
    expected_paired,
    expected_summary,
    load_world,
    served_frame,
)

DATABASE = "splitstream_evidence"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=11)


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory, world: World) -> Iterator[ChdbClickHouse]:
    clickhouse = ChdbClickHouse(str(tmp_path_factory.mktemp("chdb-evidence")), DATABASE)
    create_tables(clickhouse, DATABASE)
    load_world(clickhouse, world)
    yield clickhouse
    clickhouse.close()


def test_experiment_stats_are_the_views_numbers(chdb: ChdbClickHouse, world: World) -> None:
    stats = experiment_stats(
        chdb,
        DATABASE,
        experiment_id=EXPERIMENT,
        expected_candidate_share=CANDIDATE_SHARE,
        now=world.now + timedelta(minutes=1),
    )
    served = served_frame(world)
    for variant in ("prod", "candidate"):
        expected = expected_summary(
            served[(served.experiment_id == EXPERIMENT) & (served.variant == variant)]
        )
        got = getattr(stats, variant)
        assert got.requests == expected["requests"]
        assert got.errors == expected["errors"]
        assert got.feedback_count == expected["feedback"]
        assert got.abs_error_sum == pytest.approx(expected["abs_error_sum"])
        assert got.abs_error_sq_sum == pytest.approx(expected["abs_error_sq_sum"])
        assert got.latency_p95_ms == pytest.approx(expected["latency_ms_p95"])
    paired = expected_paired(world)
    assert stats.paired is not None
    assert stats.paired.n == paired["pairs"]
    assert stats.paired.diff_sum == pytest.approx(paired["diff_sum"])


def test_stats_as_of_an_earlier_time_count_only_earlier_requests(
    chdb: ChdbClickHouse, world: World
) -> None:
    early = world.now - timedelta(hours=2)
    stats = experiment_stats(
        chdb, DATABASE, experiment_id=EXPERIMENT, expected_candidate_share=0.2, now=early
    )
    served = served_frame(world)
    mine = served[(served.experiment_id == EXPERIMENT) & (served.occurred_at <= early)]
    assert stats.prod.requests + stats.candidate.requests == len(mine)
    assert 0 < len(mine) < len(served[served.experiment_id == EXPERIMENT])


def test_watch_stats_take_the_new_version_since_the_promotion_and_the_old_one_before(
    chdb: ChdbClickHouse, world: World
) -> None:
    # Given the candidate version "promoted" two hours ago, and one hour of lookback
    promoted_at = world.now - timedelta(hours=2)
    stats = watch_stats(
        chdb,
        DATABASE,
        previous=PROD_VERSION,
        current=CANDIDATE_VERSION,
        promoted_at=promoted_at,
        lookback_s=3600,
        now=world.now + timedelta(minutes=5),
    )
    served = served_frame(world)
    served["replied_at"] = served["occurred_at"] + pd.to_timedelta(served["latency_ms"], unit="ms")
    new = served[(served.model_version == CANDIDATE_VERSION) & (served.replied_at >= promoted_at)]
    old = served[
        (served.model_version == PROD_VERSION)
        & (served.replied_at < promoted_at)
        & (served.replied_at >= promoted_at - timedelta(hours=1))
    ]
    # Then each side counts its own window, one row per request
    for got, rows in ((stats.candidate, new), (stats.prod, old)):
        assert 0 < got.requests == len(rows)
        assert got.errors == int((rows.status != "ok").sum())
        assert got.feedback_count == int(rows.abs_error.notna().sum())
        assert got.abs_error_sum == pytest.approx(float(rows.abs_error.sum()))
        assert got.latency_p95_ms > 0
