"""Anytime-valid tests for the split and the guardrails: they may be looked at every evaluation.

The MAE rule's confidence sequence lives in ``promoter/statistics.py``; these are its
siblings for the other repeated tests, so that none of them inflates its false alarm rate
with the number of looks:

- the sample-ratio test is a beta-binomial mixture likelihood ratio (an e-process), one
  factor per period of constant share, multiplied over the periods;
- the error-rate guardrail is the same asymptotic confidence sequence as the MAE rule,
  on the difference of two error rates;
- the latency guardrail compares time-uniform confidence bounds of the two p95s, built
  from order statistics (Howard & Ramdas 2022).

Pure functions of counts and order statistics; numpy-vectorised where the simulation
needs it.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln

from promoter.statistics import cs_half_width, cs_rho


@dataclass(frozen=True)
class PeriodCounts:
    """Requests per variant during one period of constant planned candidate share."""

    candidate_share: float
    prod: int
    candidate: int

    def __post_init__(self) -> None:
        if min(self.prod, self.candidate) < 0 or not 0 <= self.candidate_share <= 1:
            raise ValueError(f"counts must be >= 0 and the share in [0, 1]: {self}")


def srm_log_e_value(
    candidate: ArrayLike, total: ArrayLike, *, share: float, concentration: float
) -> NDArray[np.float64]:
    """log of the mixture likelihood ratio of ``candidate`` of ``total`` against ``share``.

    The alternative mixes the candidate's true share over Beta(k·share, k·(1 - share)),
    k = ``concentration`` (centred on the plan; larger k looks for smaller deviations):

        E = B(c + k·s, n - c + k·(1 - s)) / B(k·s, k·(1 - s)) / (s^c (1 - s)^(n - c)).

    Under the plan E is a nonnegative martingale with mean 1 as requests arrive, so by
    Ville's inequality it ever reaches 1/alpha with probability at most alpha: the test
    may be checked after every request (Lindon & Malek, "Anytime-valid inference for
    multinomial count data", NeurIPS 2022, the two-arm case). Computed in logs: no
    overflow at any count.
    """
    if not 0 < share < 1 or concentration <= 0:
        raise ValueError(f"need 0 < share < 1 and concentration > 0, got {share}, {concentration}")
    c = np.asarray(candidate, dtype=float)
    n = np.asarray(total, dtype=float)
    a, b = concentration * share, concentration * (1 - share)
    mixture = betaln(c + a, n - c + b) - betaln(a, b)
    null = c * math.log(share) + (n - c) * math.log1p(-share)
    result: NDArray[np.float64] = mixture - null
    return result


@dataclass(frozen=True)
class SrmTest:
    """The split test over all periods: the e-value and its anytime-valid p-value."""

    log_e_value: float
    p_value: float
    periods: int
    requests: int


def srm_test(periods: Sequence[PeriodCounts], *, concentration: float) -> SrmTest:
    """Multiply the per-period e-values (each period against its own planned share).

    A period planned at share 0 or 1 carries no test (the split cannot be wrong in an
    informative way there); its requests are left out. The product of e-values of
    consecutive periods is again an e-value, so the combined test keeps its level
    however many share changes there were. p = min(1, 1/E).
    """
    log_e, tested, requests = 0.0, 0, 0
    for period in periods:
        total = period.prod + period.candidate
        if total == 0 or not 0 < period.candidate_share < 1:
            continue
        log_e += float(
            srm_log_e_value(
                period.candidate,
                total,
                share=period.candidate_share,
                concentration=concentration,
            )
        )
        tested, requests = tested + 1, requests + total
    return SrmTest(log_e, min(1.0, math.exp(-log_e)) if log_e > 0 else 1.0, tested, requests)


@dataclass(frozen=True)
class RateDifference:
    """An anytime-valid interval on error rate(candidate) - error rate(prod)."""

    difference: float
    lower: float
    upper: float


def error_rate_difference(
    *,
    prod_errors: ArrayLike,
    prod_requests: ArrayLike,
    candidate_errors: ArrayLike,
    candidate_requests: ArrayLike,
    alpha: float,
    target_n: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(difference, lower, upper): the confidence sequence of the MAE rule on error rates.

    Each request is a 0/1 observation; the interval is the two-sample asymptotic
    confidence sequence of ``statistics.compare_mae_unpaired`` on them. The variance of
    each arm is estimated with one error and one success added (Agresti & Caffo), so a
    run of zero errors does not claim zero uncertainty. Vectorised.
    """
    e_p, n_p = np.asarray(prod_errors, float), np.asarray(prod_requests, float)
    e_c, n_c = np.asarray(candidate_errors, float), np.asarray(candidate_requests, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_p, rate_c = e_p / n_p, e_c / n_c
        smooth_p, smooth_c = (e_p + 1) / (n_p + 2), (e_c + 1) / (n_c + 2)
        t = n_p + n_c
        sd = np.sqrt(t * (smooth_p * (1 - smooth_p) / n_p + smooth_c * (1 - smooth_c) / n_c))
    half = cs_half_width(t, sd, alpha=alpha, rho=cs_rho(target_n, alpha))
    ok = (n_p >= 1) & (n_c >= 1)
    half = np.where(ok, half, np.inf)
    difference = np.where(ok, rate_c - rate_p, 0.0)
    return difference, difference - half, difference + half


def quantile_ranks(
    n: ArrayLike, *, quantile: float, alpha: float, target_n: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """1-based ranks (lower, upper) whose order statistics bound the ``quantile`` for all n.

    How many of n observations fall at or below the true quantile is Binomial(n, q), a
    sum of 0/1 observations of variance q(1 - q): its count stays within
    n·q ± n·h(n) at every n with probability 1 - alpha, h the confidence sequence's
    half-width. So X_(ceil(nq - nh)) <= quantile <= X_(floor(nq + nh) + 1) at every n
    at once (Howard & Ramdas, "Sequential estimation of quantiles with applications to
    A/B-testing and best-arm identification", Bernoulli 2022). A rank below 1 means
    "no lower bound yet" (returned as 0), above n "no upper bound yet" (n + 1).
    """
    n_arr = np.asarray(n, dtype=float)
    sd = math.sqrt(quantile * (1 - quantile))
    with np.errstate(invalid="ignore"):  # n = 0: an infinite width times 0 is no bound
        half = n_arr * cs_half_width(n_arr, sd, alpha=alpha, rho=cs_rho(target_n, alpha))
        lower = np.where(np.isfinite(half), np.ceil(n_arr * quantile - half - 1e-9), 0)
        upper = np.where(np.isfinite(half), np.floor(n_arr * quantile + half + 1e-9) + 1, n_arr + 1)
    lower = np.clip(lower, 0, n_arr)
    upper = np.clip(upper, 1, n_arr + 1)
    return lower.astype(np.int64), upper.astype(np.int64)


def point_rank(n: int, quantile: float) -> int:
    """1-based rank of the plain sample quantile (the nearest-rank definition); 0 for n = 0."""
    return max(1, math.ceil(n * quantile)) if n > 0 else 0


def latency_breach(
    *,
    candidate_lower_ms: ArrayLike,
    prod_upper_ms: ArrayLike,
    margin_relative: float,
    margin_ms: float,
) -> NDArray[np.bool_]:
    """The candidate's quantile is surely above prod's by more than both margins.

    ``candidate_lower_ms`` is the lower confidence bound of the candidate's quantile and
    ``prod_upper_ms`` the upper bound of prod's (each from ``quantile_ranks``); NaN or an
    infinite bound (not enough requests yet) never breaches.
    """
    low = np.asarray(candidate_lower_ms, dtype=float)
    high = np.asarray(prod_upper_ms, dtype=float)
    with np.errstate(invalid="ignore"):
        known = np.isfinite(low) & np.isfinite(high)
        excess = low - high
        breached = known & (excess > high * margin_relative) & (excess > margin_ms)
    result: NDArray[np.bool_] = breached
    return result
