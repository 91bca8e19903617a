"""The stream agent's window arithmetic and trigger rule, checked against Faust's own windows."""

import random
from itertools import pairwise

import pytest
from faust.windows import HoppingWindow, _PyHoppingWindow

from promoter.windows import HoppingWindows, TriggerRule, Window, WindowCounts, duration_label

DAY, HOUR = 86_400, 3_600


def _timestamps(seed: int, n: int = 500) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(1.7e9, 1.9e9) for _ in range(n)] + [1.8e9, 1.8e9 + HOUR - 0.5]


@pytest.mark.parametrize(("size", "step"), [(DAY, HOUR), (DAY, DAY), (600, 60), (90, 30)])
@pytest.mark.parametrize("faust_window", [HoppingWindow, _PyHoppingWindow])
def test_windows_are_the_ones_faust_puts_a_timestamp_in(
    size: int, step: int, faust_window: type
) -> None:
    ours, theirs = HoppingWindows(size, step), faust_window(size, step)
    for at in _timestamps(seed=size + step):
        # Faust's ranges end 0.1 s before the next window's start (inclusive end).
        faust_ranges = [(start, round(end + 0.1, 6)) for start, end in theirs.ranges(at)]
        assert [(w.start_s, w.end_s) for w in ours.ranges(at)] == faust_ranges
        assert ours.trailing(at).start_s == theirs.earliest(at)[0]


def test_a_moment_is_in_size_over_step_windows_that_all_hold_it() -> None:
    windows = HoppingWindows(DAY, HOUR)
    for at in _timestamps(seed=1):
        ranges = windows.ranges(at)
        assert len(ranges) == 24
        assert all(w.start_s <= at < w.end_s for w in ranges)
        assert ranges == sorted(ranges)
        assert {w.end_s - w.start_s for w in ranges} == {DAY}


def test_the_trailing_window_covers_the_last_day_up_to_the_end_of_the_hour() -> None:
    at = 1_800_000_000 + 1234.5  # 1,800,000,000 is 08:00 UTC, an hour boundary
    trailing = HoppingWindows(DAY, HOUR).trailing(at)
    assert trailing.end_s == 1_800_000_000 + HOUR
    assert trailing.start_s == trailing.end_s - DAY
    assert trailing.start_s <= at - DAY + HOUR


def test_each_window_is_exactly_its_panes_and_a_moment_lies_in_one_pane() -> None:
    windows = HoppingWindows(DAY, HOUR)
    for at in _timestamps(seed=2):
        pane = windows.pane(at)
        assert pane.start_s <= at < pane.end_s and pane.end_s - pane.start_s == HOUR
        for window in windows.ranges(at):
            panes = windows.panes(window)
            assert len(panes) == 24
            assert panes[0].start_s == window.start_s and panes[-1].end_s == window.end_s
            assert all(a.end_s == b.start_s for a, b in pairwise(panes))
            assert pane in panes  # so adding to the pane adds to every window holding at


def test_a_pane_expires_once_no_window_closed_within_a_size_needs_it() -> None:
    windows = HoppingWindows(DAY, HOUR)
    pane = windows.pane(0.0)
    last_needing_it = Window(pane.start_s, pane.start_s + DAY)  # ends at 24 h
    at = last_needing_it.end_s + DAY  # one size after that window closed
    assert not windows.expired(pane, at_s=at - 1)
    assert windows.expired(pane, at_s=at + HOUR)


@pytest.mark.parametrize(("size", "step"), [(DAY, 7 * HOUR), (0, 1), (10, 0)])
def test_a_step_that_does_not_divide_the_size_is_refused(size: int, step: int) -> None:
    with pytest.raises(ValueError, match=r"step|at least"):
        HoppingWindows(size, step)


def test_the_rule_fires_at_the_trigger_and_at_each_further_multiple_only() -> None:
    rule = TriggerRule(100, HoppingWindows(DAY, HOUR))
    fired_at = [n for n in range(1, 451) if rule.fires("candidate", before=n - 1, after=n)]
    assert fired_at == [100, 200, 300, 400]


def test_the_rule_fires_once_when_a_count_jumps_past_the_trigger() -> None:
    rule = TriggerRule(100, HoppingWindows(DAY, HOUR))
    assert rule.fires("candidate", before=95, after=130)
    assert not rule.fires("candidate", before=130, after=199)
    assert rule.fires("candidate", before=130, after=420)


def test_the_rule_ignores_prod_and_counts_below_the_trigger() -> None:
    rule = TriggerRule(100, HoppingWindows(DAY, HOUR))
    assert not rule.fires("prod", before=99, after=100)
    assert not rule.fires("candidate", before=0, after=99)


def test_the_rule_describes_itself_like_the_old_stack_stated_it() -> None:
    rule = TriggerRule(100, HoppingWindows(DAY, HOUR))
    assert rule.describe().startswith("candidate_requests>=100 in 24h")
    assert len(rule.describe()) <= 500  # the trigger schema's limit


def test_durations_are_labelled_in_their_largest_exact_unit() -> None:
    assert [duration_label(s) for s in (DAY, 5400, 90, 61)] == ["24h", "90m", "90s", "61s"]


def test_an_increment_writes_only_the_measures_it_changes() -> None:
    assert WindowCounts(requests=1).nonzero() == {"requests": 1}
    assert WindowCounts(errors=0, latency_ms_sum=2.5).nonzero() == {"latency_ms_sum": 2.5}
    assert WindowCounts.measures() == (
        "requests",
        "errors",
        "latency_ms_sum",
        "abs_error_sum",
        "feedback_count",
    )
