"""The sequential tests behind the split check and the guardrails: by hand, and their level
under continuous monitoring."""

import math

import numpy as np
import pytest
from scipy.special import betaln

from promoter.sequential import (
    PeriodCounts,
    error_rate_difference,
    latency_breach,
    point_rank,
    quantile_ranks,
    srm_log_e_value,
    srm_test,
)


def test_srm_e_value_is_the_beta_binomial_mixture_ratio_by_hand() -> None:
    # 230 of 1,000 against a planned 20%, mixing over Beta(k·0.2, k·0.8), k = 100
    c, n, s, k = 230, 1_000, 0.2, 100.0
    mixture = betaln(c + k * s, n - c + k * (1 - s)) - betaln(k * s, k * (1 - s))
    null = c * math.log(s) + (n - c) * math.log(1 - s)
    assert float(srm_log_e_value(c, n, share=s, concentration=k)) == pytest.approx(mixture - null)


def test_srm_e_value_never_overflows() -> None:
    assert math.isfinite(float(srm_log_e_value(10**9, 10**10, share=0.2, concentration=1000)))


def test_srm_test_multiplies_periods_and_skips_planned_zero_or_one() -> None:
    first, second = PeriodCounts(0.05, 950, 50), PeriodCounts(0.5, 400, 600)
    each = [
        float(
            srm_log_e_value(
                p.candidate, p.prod + p.candidate, share=p.candidate_share, concentration=1000
            )
        )
        for p in (first, second)
    ]
    test = srm_test([first, second, PeriodCounts(0.0, 300, 0)], concentration=1000)
    assert test.log_e_value == pytest.approx(sum(each))
    assert (test.periods, test.requests) == (2, 2_000)
    assert test.p_value == pytest.approx(min(1.0, math.exp(-sum(each))))
    assert srm_test([], concentration=1000).p_value == 1.0


def test_srm_false_alarms_stay_within_alpha_when_looked_at_after_every_batch() -> None:
    # 2,000 streams routed exactly as planned, checked after every 100 of 20,000 requests
    rng = np.random.default_rng(1)
    looks = np.arange(100, 20_001, 100)
    counts = rng.binomial(100, 0.2, size=(2_000, looks.size)).cumsum(axis=1)
    log_e = srm_log_e_value(counts, looks, share=0.2, concentration=100)
    assert (log_e >= math.log(20)).any(axis=1).mean() <= 0.05  # alpha = 0.05
    # while a 25% share against the plan is found in nearly every stream
    skewed = rng.binomial(100, 0.25, size=(200, looks.size)).cumsum(axis=1)
    found = srm_log_e_value(skewed, looks, share=0.2, concentration=100) >= math.log(1000)
    assert found.any(axis=1).mean() > 0.95


def test_the_error_rate_interval_is_the_smoothed_two_sample_sequence() -> None:
    difference, lower, upper = error_rate_difference(
        prod_errors=0,
        prod_requests=800,
        candidate_errors=0,
        candidate_requests=200,
        alpha=0.02,
        target_n=10_000,
    )
    # No errors at all: zero difference, but not zero uncertainty
    assert float(difference) == 0.0 and float(lower) < 0 < float(upper)
    _, lower, _ = error_rate_difference(
        prod_errors=10,
        prod_requests=1_000,
        candidate_errors=200,
        candidate_requests=1_000,
        alpha=0.02,
        target_n=10_000,
    )
    assert float(lower) > 0.1
    _, lower, upper = error_rate_difference(
        prod_errors=0,
        prod_requests=0,
        candidate_errors=0,
        candidate_requests=10,
        alpha=0.02,
        target_n=10_000,
    )
    assert float(lower) == -math.inf and float(upper) == math.inf


def test_quantile_ranks_cover_the_true_p95_at_every_look() -> None:
    # 400 streams of exponential latencies (true p95 = ln 20), bounds checked at every
    # 50th observation from 200 to 5,000: both sides miss in at most alpha of the streams
    rng = np.random.default_rng(3)
    true_p95 = math.log(20)
    x = rng.exponential(1.0, (400, 5_000))
    missed_low = np.zeros(400, bool)
    missed_high = np.zeros(400, bool)
    for n in range(200, 5_001, 50):
        low, high = quantile_ranks(n, quantile=0.95, alpha=0.05, target_n=2_000)
        ordered = np.sort(x[:, :n], axis=1)
        if 1 <= low <= n:
            missed_low |= ordered[:, low - 1] > true_p95
        if 1 <= high <= n:
            missed_high |= ordered[:, high - 1] < true_p95
    assert (missed_low | missed_high).mean() <= 0.05


def test_quantile_ranks_are_open_until_enough_observations() -> None:
    low, high = quantile_ranks(5, quantile=0.95, alpha=0.01, target_n=10_000)
    assert int(low) == 0 and int(high) == 6  # no bound on either side yet
    assert point_rank(100, 0.95) == 95 and point_rank(0, 0.95) == 0


def test_latency_breach_needs_both_margins_and_known_bounds() -> None:
    def breach(low: float, high: float) -> bool:
        return bool(
            latency_breach(
                candidate_lower_ms=low, prod_upper_ms=high, margin_relative=0.25, margin_ms=50
            )
        )

    assert breach(151.0, 100.0)
    assert not breach(140.0, 100.0)  # 40 ms over: within the absolute margin
    assert not breach(1_100.0, 1_000.0)  # 100 ms over: within the relative margin
    assert not breach(-math.inf, 100.0) and not breach(500.0, math.inf)
    assert not breach(math.nan, 100.0)
