"""The promoter's MAE comparison: an anytime-valid confidence sequence on sufficient statistics.

Pure functions of sufficient statistics, so the same numbers come out of ClickHouse, a
replay or a simulation. The split test and the guardrails, built on the same sequence,
are in ``promoter/sequential.py``.
"""

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Method = Literal["unpaired", "paired"]


@dataclass(frozen=True)
class SampleSums:
    """Sufficient statistics of a sample: count, sum and sum of squares."""

    n: int
    total: float
    sq_total: float

    def __post_init__(self) -> None:
        if self.n < 0 or self.sq_total < 0:
            raise ValueError(f"n and the sum of squares must not be negative: {self}")

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Unbiased sample variance; infinite below two observations (nothing is known yet)."""
        if self.n < 2:
            return math.inf
        return max(self.sq_total - self.total * self.total / self.n, 0.0) / (self.n - 1)


@dataclass(frozen=True)
class MaeComparison:
    """An anytime-valid (1 - alpha) confidence sequence on MAE(candidate) - MAE(prod).

    Negative means the candidate errs less. In the paired method ``n_prod == n_candidate`` is
    the number of pairs, and the per-arm MAEs are each model's on those same pairs (None
    when unknown), so ``mae_candidate - mae_prod == difference``.
    """

    method: Method
    n_prod: int
    n_candidate: int
    mae_prod: float | None
    mae_candidate: float | None
    difference: float
    lower: float
    upper: float
    alpha: float
    rho: float

    @property
    def candidate_better(self) -> bool:
        return self.upper < 0

    @property
    def candidate_worse(self) -> bool:
        return self.lower > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields (non-finite numbers become None) for the ledger."""
        return {
            key: (None if isinstance(value, float) and not math.isfinite(value) else value)
            for key, value in self.__dict__.items()
        }


def cs_rho(target_n: float, alpha: float) -> float:
    """The mixture parameter rho that makes the confidence sequence tightest at ``target_n``.

    rho^2 = (2 log(1/alpha) + log(1 + 2 log(1/alpha))) / target_n, the closed-form
    approximation of Waudby-Smith et al. (2024), section 2.
    """
    if target_n <= 0 or not 0 < alpha < 1:
        raise ValueError(f"need target_n > 0 and 0 < alpha < 1, got {target_n}, {alpha}")
    log_term = 2 * math.log(1 / alpha)
    return math.sqrt((log_term + math.log1p(log_term)) / target_n)


def cs_half_width(t: ArrayLike, sd: ArrayLike, *, alpha: float, rho: float) -> NDArray[np.float64]:
    """Half-width of the two-sided normal-mixture (Robbins) confidence sequence for a mean.

    sd * sqrt(2 (t rho^2 + 1) / (t^2 rho^2) * log(sqrt(t rho^2 + 1) / alpha)), with t
    observations of standard deviation sd: Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas,
    "Time-uniform central limit theory and asymptotic confidence sequences" (Annals of
    Statistics, 2024; arXiv:2103.06476), Theorem 2.2. Vectorised for the simulation;
    infinite where t < 1.

    Validity is asymptotic (sd is a plug-in estimate). With tails as heavy as this data's
    (lognormal, CV 2.2) a single arm's mean is under-covered for thousands of observations,
    but differences of two such arms are covered at the nominal rate; the policy's minimum
    sample and ``splitstream simulate`` check the rest.
    """
    t_arr = np.asarray(t, dtype=float)
    sd_arr = np.asarray(sd, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        grown = t_arr * rho**2 + 1
        margin = np.sqrt(2 * grown / (t_arr**2 * rho**2) * np.log(np.sqrt(grown) / alpha))
        width = sd_arr * margin
    return np.where(t_arr >= 1, width, np.inf)


def compare_mae_unpaired(
    *, prod: SampleSums, candidate: SampleSums, alpha: float, target_n: float
) -> MaeComparison:
    """Compare the MAE of two independently sampled arms (absolute errors per arm).

    The difference of arm means D = m_c - m_p has estimated variance V = s_c^2/n_c + s_p^2/n_p.
    With t = n_c + n_p and the per-observation sd sigma = sqrt(t V), the interval is
    D +- cs_half_width(t, sigma): the asymptotic confidence sequence above applied to the
    difference-in-means process, the same boundary as the two-sample mixture SPRT of
    Johari, Koomen, Pekelis & Walsh, "Always valid inference" (Operations Research, 2022)
    with mixing variance tau^2 = sigma^2 rho^2. Valid uniformly over t, so it may be checked
    after every observation.

    Args:
        prod, candidate: n, sum and sum of squares of absolute errors per arm.
        alpha: the chance the sequence ever excludes the true difference.
        target_n: total feedback (both arms) at which the interval is tightest.
    """
    t = prod.n + candidate.n
    sd = math.inf
    if prod.n >= 2 and candidate.n >= 2:
        sd = math.sqrt(t * (prod.variance / prod.n + candidate.variance / candidate.n))
    return _comparison(
        "unpaired",
        n_prod=prod.n,
        n_candidate=candidate.n,
        mae_prod=prod.mean,
        mae_candidate=candidate.mean,
        difference=candidate.mean - prod.mean,
        t=t,
        sd=sd,
        alpha=alpha,
        rho=cs_rho(target_n, alpha),
    )


def compare_mae_paired(
    differences: SampleSums,
    *,
    alpha: float,
    target_n: float,
    mae_prod: float | None = None,
    mae_candidate: float | None = None,
) -> MaeComparison:
    """Compare MAE on the same requests (shadow scoring): one-sample CS on the differences.

    ``differences`` sums |err_prod| - |err_candidate| per request (positive: candidate
    better); the result is reported as candidate - prod like the unpaired one, i.e. the
    interval is -(mean +- cs_half_width(n, sd)). Same reference as :func:`cs_half_width`.

    Args:
        differences: n, sum and sum of squares of the per-request differences.
        alpha: the chance the sequence ever excludes the true difference.
        target_n: number of pairs at which the interval is tightest.
        mae_prod, mae_candidate: each model's MAE on these same pairs, carried so the
            record shows the two numbers the difference came from.
    """
    return _comparison(
        "paired",
        n_prod=differences.n,
        n_candidate=differences.n,
        mae_prod=mae_prod,
        mae_candidate=mae_candidate,
        difference=-differences.mean,
        t=differences.n,
        sd=math.sqrt(differences.variance),
        alpha=alpha,
        rho=cs_rho(target_n, alpha),
    )


def _comparison(
    method: Method,
    *,
    n_prod: int,
    n_candidate: int,
    mae_prod: float | None,
    mae_candidate: float | None,
    difference: float,
    t: int,
    sd: float,
    alpha: float,
    rho: float,
) -> MaeComparison:
    half = float(cs_half_width(t, sd, alpha=alpha, rho=rho)) if math.isfinite(sd) else math.inf
    if not math.isfinite(difference):
        difference, half = math.nan, math.inf
    return MaeComparison(
        method=method,
        n_prod=n_prod,
        n_candidate=n_candidate,
        mae_prod=mae_prod,
        mae_candidate=mae_candidate,
        difference=difference,
        lower=difference - half if math.isfinite(half) else -math.inf,
        upper=difference + half if math.isfinite(half) else math.inf,
        alpha=alpha,
        rho=rho,
    )


def error_rate(errors: int, requests: int) -> float:
    """Share of requests that failed; 0.0 with no requests."""
    return errors / requests if requests else 0.0
