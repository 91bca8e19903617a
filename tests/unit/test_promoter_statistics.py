"""The promoter's MAE comparison: the anytime-valid confidence sequence and its two forms."""

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
)


def _sums(values: np.ndarray) -> SampleSums:
    return SampleSums(len(values), float(values.sum()), float((values**2).sum()))


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


def test_paired_comparison_carries_both_maes_on_the_same_pairs() -> None:
    rng = np.random.default_rng(6)
    prod = rng.exponential(25, 1_000)
    candidate = prod * rng.uniform(0.7, 1.0, 1_000)
    result = compare_mae_paired(
        _sums(prod - candidate),
        alpha=0.05,
        target_n=1_000,
        mae_prod=float(prod.mean()),
        mae_candidate=float(candidate.mean()),
    )
    assert result.mae_candidate - result.mae_prod == pytest.approx(result.difference)


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
