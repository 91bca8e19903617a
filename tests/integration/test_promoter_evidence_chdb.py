"""The promoter's evidence queries on embedded ClickHouse, against the same synthetic
experiment the views are checked with: the numbers it decides on are the views' numbers,
and a moment in the past sees only what was stored by then."""

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.point_in_time import Cut, Ranks, latency_bounds
from plumbing.clickhouse import ChdbClickHouse, create_tables
from promoter.evidence import LATENCY_QUANTILE, Window, experiment_stats
from promoter.policy import Policy
from promoter.sequential import point_rank, quantile_ranks
from promoter.shares import ShareChange, ShareHistory
from schemas.columns import flatten_event
from tests.integration.synthetic_experiment import (
    CANDIDATE_SHARE,
    EXPERIMENT,
    World,
    build_world,
    expected_paired,
    expected_summary,
    served_frame,
)

DATABASE = "splitstream_evidence"
POLICY = Policy()
#: The sink stores an event about this long after it happened.
LAG = timedelta(seconds=1)


def _frame(events: list[Any], topic: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **flatten_event(event.model_dump(), event.event_type),
                "_topic": topic,
                "_partition": 0,
                "_offset": offset,
                "_ingested_at": event.occurred_at + LAG,
            }
            for offset, event in enumerate(events)
        ]
    )


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=11)


@pytest.fixture(scope="module")
def chdb(tmp_path_factory: pytest.TempPathFactory, world: World) -> Iterator[ChdbClickHouse]:
    """The world as the sink would have stored it, each event a second after it happened."""
    clickhouse = ChdbClickHouse(str(tmp_path_factory.mktemp("chdb-evidence")), DATABASE)
    create_tables(clickhouse, DATABASE)
    for table, events, topic in (
        ("requests", world.requests + world.redelivered_requests, "predict.requests"),
        ("replies", world.replies + world.redelivered_replies, "predict.replies"),
        ("feedback", world.feedback, "feedback"),
    ):
        clickhouse.insert_df(table, _frame(events, topic))
    yield clickhouse
    clickhouse.close()


def _stats(chdb: ChdbClickHouse, window: Window, shares: ShareHistory | None = None) -> Any:
    history = shares or ShareHistory(CANDIDATE_SHARE)
    return experiment_stats(chdb, DATABASE, window, shares=history, policy=POLICY)


def test_experiment_stats_are_the_views_numbers(chdb: ChdbClickHouse, world: World) -> None:
    stats = _stats(chdb, Window(EXPERIMENT, world.now + timedelta(minutes=1)))
    served = served_frame(world)
    for variant in ("prod", "candidate"):
        mine = served[(served.experiment_id == EXPERIMENT) & (served.variant == variant)]
        expected = expected_summary(mine)
        got = getattr(stats, variant)
        assert got.requests == expected["requests"]
        assert got.errors == expected["errors"]
        assert got.feedback_count == expected["feedback"]
        assert got.abs_error_sum == pytest.approx(expected["abs_error_sum"])
        assert got.abs_error_sq_sum == pytest.approx(expected["abs_error_sq_sum"])
        # The p95 is the nearest-rank order statistic; its bounds are the order
        # statistics at the ranks of the anytime-valid sequence
        latency = np.sort(mine["latency_ms"].dropna().to_numpy(dtype=float))
        n = len(latency)
        assert got.latency_p95_ms == latency[point_rank(n, LATENCY_QUANTILE) - 1]
        low, high = quantile_ranks(
            n,
            quantile=LATENCY_QUANTILE,
            alpha=POLICY.guardrail_alpha,
            target_n=POLICY.guardrail_target_requests,
        )
        assert got.latency_p95_lower_ms == (latency[low - 1] if low >= 1 else -math.inf)
        assert got.latency_p95_upper_ms == (latency[high - 1] if high <= n else math.inf)
    paired = expected_paired(world)
    assert stats.paired is not None
    assert stats.paired.n == paired["pairs"]
    assert stats.paired.diff_sum == pytest.approx(paired["diff_sum"])
    assert stats.paired.diff_sq_sum == pytest.approx(paired["diff_sq_sum"])
    # both MAEs on the same pairs, consistent with the mean difference
    assert stats.paired.mae_prod - stats.paired.mae_candidate == pytest.approx(
        paired["diff_sum"] / paired["pairs"]
    )
    assert stats.periods == (
        type(stats.periods[0])(CANDIDATE_SHARE, stats.prod.requests, stats.candidate.requests),
    )


def test_stats_as_of_an_earlier_time_count_only_what_was_stored_by_then(
    chdb: ChdbClickHouse, world: World
) -> None:
    early = world.now - timedelta(hours=2)
    stats = _stats(chdb, Window(EXPERIMENT, early))
    served = served_frame(world)
    mine = served[(served.experiment_id == EXPERIMENT) & (served.occurred_at + LAG <= early)]
    assert stats.prod.requests + stats.candidate.requests == len(mine)
    assert 0 < len(mine) < len(served[served.experiment_id == EXPERIMENT])
    assert stats.now == early


def test_requests_are_counted_per_period_of_share_and_settling_ones_left_out(
    chdb: ChdbClickHouse, world: World
) -> None:
    # Given the share changed an hour before the end, and gateways take 10 s to follow
    change = world.now - timedelta(hours=1)
    history = ShareHistory(CANDIDATE_SHARE, (ShareChange(change, 0.5),))
    stats = _stats(chdb, Window(EXPERIMENT, world.now + timedelta(minutes=1)), history)
    served = served_frame(world)
    mine = served[served.experiment_id == EXPERIMENT]
    before = mine[mine.occurred_at < change]
    settling = mine[
        (mine.occurred_at >= change) & (mine.occurred_at < change + timedelta(seconds=10))
    ]
    after = mine[mine.occurred_at >= change + timedelta(seconds=10)]
    # Then each period holds its own requests, with its own planned share
    first, second = stats.periods
    assert (first.candidate_share, first.prod + first.candidate) == (CANDIDATE_SHARE, len(before))
    assert (second.candidate_share, second.prod + second.candidate) == (0.5, len(after))
    assert stats.prod.requests + stats.candidate.requests == len(mine)  # all still counted
    assert len(before) + len(settling) + len(after) == len(mine)
    assert stats.expected_candidate_share == 0.5 and stats.share_since == change


def test_a_window_since_a_moment_reads_only_the_requests_after_it(
    chdb: ChdbClickHouse, world: World
) -> None:
    since = world.now - timedelta(hours=1)
    stats = _stats(chdb, Window(EXPERIMENT, world.now + timedelta(minutes=1), since=since))
    served = served_frame(world)
    mine = served[(served.experiment_id == EXPERIMENT) & (served.occurred_at >= since)]
    assert stats.prod.requests + stats.candidate.requests == len(mine)
    assert stats.started_at >= since
    swapped = stats.swapped()
    assert (swapped.prod, swapped.candidate) == (stats.candidate, stats.prod)


def test_an_experiment_without_requests_starts_now(chdb: ChdbClickHouse, world: World) -> None:
    moment = world.now + timedelta(minutes=1)
    stats = _stats(chdb, Window("exp-test:no-such-candidate", moment))
    assert stats.prod.requests == stats.candidate.requests == 0
    assert stats.started_at == moment and stats.elapsed_hours == 0.0
    assert POLICY.max_duration_hours > 0 and stats.periods == ()


def test_a_rank_below_one_is_no_bound_not_a_query_error(chdb: ChdbClickHouse, world: World) -> None:
    # Given ranks of 0: too few replies for a lower bound (ClickHouse's arrays are 1-based)
    cut = Cut(EXPERIMENT, since=world.now - timedelta(days=30), until=world.now + timedelta(1))
    ranks = {v: Ranks(point=1, low=0, high=0) for v in ("prod", "candidate")}

    # When the latency bounds are read, then each variant has a point and no bounds
    bounds = latency_bounds(chdb, DATABASE, cut, ranks)
    assert set(bounds) == {"prod", "candidate"}
    for found in bounds.values():
        assert math.isfinite(found.point_ms)
        assert found.lower_ms == -math.inf and found.upper_ms == math.inf
