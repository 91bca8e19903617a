"""The promoter's statistics: the split test and the anytime-valid MAE comparison."""

import json
import math

import numpy as np
import pytest

from promoter.statistics import (
    SampleSums,
    compare_mae_paired,
    compare_mae_unpaired,
    cs_half_width,
    cs_rho,
    error_rate_breached,
    latency_breached,
    srm_p_value,
)


def _sums(values: np.ndarray) -> SampleSums:
    return SampleSums(len(values), float(values.sum()), float((values**2).sum()))


def test_srm_p_value_of_two_variants_matches_the_normal_tail_by_hand() -> None:
    # 790/210 against 800/200 expected: chi2 = 10^2/800 + 10^2/200; one degree of freedom,
    # so p = P(|Z| > sqrt(chi2)) = erfc(sqrt(chi2 / 2)).
    chi2 = 100 / 800 + 100 / 200
    expected = math.erfc(math.sqrt(chi2 / 2))
    p_value = srm_p_value({"prod": 790, "candidate": 210}, {"prod": 0.8, "candidate": 0.2})
    assert p_value == pytest.approx(expected, rel=1e-9)


def test_srm_p_value_of_three_variants_matches_the_exponential_tail_by_hand() -> None:
    # Two degrees of freedom: the chi-square survival function is exp(-x / 2).
    observed = {"a": 300, "b": 380, "c": 320}
    chi2 = sum((count - 1000 / 3) ** 2 / (1000 / 3) for count in observed.values())
    p_value = srm_p_value(observed, {"a": 1.0, "b": 1.0, "c": 1.0})  # shares normalised
    assert p_value == pytest.approx(math.exp(-chi2 / 2), rel=1e-9)


def test_srm_p_value_without_requests_is_one_and_bad_input_is_refused() -> None:
    assert srm_p_value({"prod": 0, "candidate": 0}, {"prod": 0.8, "candidate": 0.2}) == 1.0
    with pytest.raises(ValueError, match="differ"):
        srm_p_value({"prod": 1, "candidate": 1}, {"prod": 0.8, "shadow": 0.2})
    with pytest.raises(ValueError, match="negative"):
        srm_p_value({"prod": -1, "candidate": 1}, {"prod": 0.8, "candidate": 0.2})
    with pytest.raises(ValueError, match="positive"):
        srm_p_value({"prod": 1, "candidate": 1}, {"prod": 1.0, "candidate": 0.0})


def test_cs_width_shrinks_as_observations_accumulate() -> None:
    t = np.unique(np.logspace(0, 7, 300).astype(int))
    width = cs_half_width(t, 1.0, alpha=0.05, rho=cs_rho(1_000, 0.05))
    assert np.all(np.diff(width) < 0)
    assert width[-1] < 0.01 * width[0]
    assert np.isinf(cs_half_width(0, 1.0, alpha=0.05, rho=0.1))


def test_rho_makes_the_sequence_tightest_near_its_target() -> None:
    target = 5_000
    at_target = cs_half_width(target, 1.0, alpha=0.05, rho=cs_rho(target, 0.05))
    for other in (target / 10, target / 3, target * 3, target * 10):
        assert at_target < cs_half_width(target, 1.0, alpha=0.05, rho=cs_rho(other, 0.05))


def _ever_missed(x: np.ndarray, true_mean: float, *, start: int) -> tuple[float, float]:
    """Share of streams whose running interval ever excludes the truth: CS and fixed 95%."""
    n = np.arange(1, x.shape[1] + 1)
    mean = np.cumsum(x, axis=1) / n
    var = np.maximum(np.cumsum(x**2, axis=1) / n - mean**2, 0) * n / np.maximum(n - 1, 1)
    miss = np.abs(mean[:, start:] - true_mean)
    sd = np.sqrt(var[:, start:])
    half = cs_half_width(n[start:], sd, alpha=0.05, rho=cs_rho(1_000, 0.05))
    fixed_half = 1.96 * sd / np.sqrt(n[start:])
    return float((miss > half).any(axis=1).mean()), float((miss > fixed_half).any(axis=1).mean())


def test_cs_covers_the_true_mean_at_all_times_while_a_fixed_interval_does_not() -> None:
    # Given 1,000 Gaussian streams of 4,000 observations, checked after each from the 100th
    rng = np.random.default_rng(11)
    x = rng.normal(25.0, 55.0, (1_000, 4_000))
    cs_missed, fixed_missed = _ever_missed(x, 25.0, start=100)
    # Then the sequence misses at most alpha of the time; repeated fixed intervals far more
    assert cs_missed <= 0.05
    assert fixed_missed > 0.3


def test_cs_covers_a_difference_of_heavy_tailed_absolute_errors() -> None:
    # Given two arms of lognormal absolute errors with this data's mean 25 and sd 55
    rng = np.random.default_rng(12)
    sigma = math.sqrt(math.log1p((55 / 25) ** 2))
    mu = math.log(25) - sigma**2 / 2
    prod, candidate = (np.exp(mu + sigma * rng.standard_normal((1_000, 4_000))) for _ in "ab")
    # When the running interval on their per-request difference is checked continuously
    cs_missed, _ = _ever_missed(candidate - prod, 0.0, start=100)
    # Then it still covers 0 in at least 1 - alpha of the streams. (A single lognormal
    # mean is covered less well at these sizes: the asymptotic CS needs the tails to
    # cancel or more data; hence the policy's minimum sample.)
    assert cs_missed <= 0.05


def test_unpaired_comparison_is_candidate_minus_prod_with_the_mixture_sprt_width() -> None:
    rng = np.random.default_rng(3)
    prod, candidate = rng.exponential(25, 8_000), rng.exponential(20, 2_000)
    result = compare_mae_unpaired(
        prod=_sums(prod), candidate=_sums(candidate), alpha=0.05, target_n=10_000
    )
    assert result.method == "unpaired"
    assert (result.n_prod, result.n_candidate) == (8_000, 2_000)
    assert result.difference == pytest.approx(candidate.mean() - prod.mean())
    # The same interval in the form of Johari et al.'s two-sample mixture SPRT:
    # V (V + tau^2) / tau^2 * log((V + tau^2) / (V alpha^2)), tau^2 = (t V) rho^2.
    v = prod.var(ddof=1) / 8_000 + candidate.var(ddof=1) / 2_000
    tau2 = 10_000 * v * result.rho**2
    half = math.sqrt(v * (v + tau2) / tau2 * math.log((v + tau2) / (v * 0.05**2)))
    assert result.upper - result.difference == pytest.approx(half, rel=1e-9)
    assert result.lower - result.difference == pytest.approx(-half, rel=1e-9)
    assert result.candidate_better and not result.candidate_worse


def test_paired_comparison_reports_candidate_minus_prod() -> None:
    rng = np.random.default_rng(5)
    differences = rng.normal(3.0, 10.0, 2_000)  # |err_prod| - |err_candidate| > 0
    result = compare_mae_paired(_sums(differences), alpha=0.05, target_n=1_000)
    assert result.method == "paired"
    assert result.n_prod == result.n_candidate == 2_000
    assert result.difference == pytest.approx(-differences.mean())
    assert result.upper < 0 and result.candidate_better
    assert result.mae_prod is None


def test_without_two_observations_per_arm_the_interval_is_unbounded_and_json_safe() -> None:
    result = compare_mae_unpaired(
        prod=SampleSums(1, 20.0, 400.0),
        candidate=SampleSums(0, 0.0, 0.0),
        alpha=0.05,
        target_n=100,
    )
    assert result.lower == -math.inf and result.upper == math.inf
    assert not result.candidate_better and not result.candidate_worse
    record = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert record["lower"] is None and record["mae_candidate"] is None


def test_guardrail_helpers_use_absolute_and_relative_margins() -> None:
    assert error_rate_breached(prod_rate=0.01, candidate_rate=0.03, margin_absolute=0.01)
    assert not error_rate_breached(prod_rate=0.01, candidate_rate=0.015, margin_absolute=0.01)


def test_an_error_rate_excess_within_noise_is_not_a_breach() -> None:
    # 5.0% of 250 against 3.68% of 750: 0.3 points over the margin, far inside the noise
    noisy = {"prod_rate": 0.0368, "candidate_rate": 0.05, "margin_absolute": 0.01}
    assert error_rate_breached(**noisy)
    assert not error_rate_breached(**noisy, prod_requests=750, candidate_requests=250)
    # 20% of 200 against 1% of 600: a real regression, significant at any sane level
    real = {"prod_rate": 0.01, "candidate_rate": 0.20, "margin_absolute": 0.01}
    assert error_rate_breached(**real, prod_requests=600, candidate_requests=200)
    assert latency_breached(prod_p95_ms=100, candidate_p95_ms=130, margin_relative=0.25)
    assert not latency_breached(prod_p95_ms=100, candidate_p95_ms=120, margin_relative=0.25)
    assert not latency_breached(prod_p95_ms=math.nan, candidate_p95_ms=500, margin_relative=0)
    # 40 ms over a 100 ms p95 passes the relative margin, not an absolute one of 50 ms
    assert not latency_breached(
        prod_p95_ms=100, candidate_p95_ms=140, margin_relative=0.25, margin_ms=50
    )
    assert latency_breached(
        prod_p95_ms=100, candidate_p95_ms=151, margin_relative=0.25, margin_ms=50
    )
