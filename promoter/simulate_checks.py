"""Simulated experiments for the split test and the guardrails under continuous monitoring.

Each function runs many experiments at once (numpy arrays), checks the test after every
batch of requests exactly as ``decide`` would (same functions, same thresholds), and
returns how many ever flagged, and after how many requests. Run with the planned share,
equal error rates or latencies at the edge of the margin, the flag rate is the false
alarm rate; run with a real effect, it is the power. Randomness comes in as an argument.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from promoter.policy import Policy
from promoter.sequential import (
    error_rate_difference,
    latency_breach,
    quantile_ranks,
    srm_log_e_value,
)

#: The latency quantile the guardrail compares.
QUANTILE = 0.95
Z_95 = 1.6448536269514722


@dataclass(frozen=True)
class FlagRun:
    """Per experiment: whether the test ever flagged, and the requests seen when it did."""

    flagged: NDArray[np.bool_]
    requests: NDArray[np.float64]  # NaN where it never flagged

    @property
    def rate(self) -> float:
        return float(self.flagged.mean())

    @property
    def median_requests(self) -> float | None:
        hit = self.requests[self.flagged]
        return float(np.median(hit)) if hit.size else None


def _first_flag(flags: NDArray[np.bool_], seen: NDArray[np.float64]) -> FlagRun:
    """flags: (experiments, looks); seen: requests at each look."""
    flagged = cast(NDArray[np.bool_], flags.any(axis=1))  # any(axis=...) may be a scalar
    first = np.where(flagged, seen[flags.argmax(axis=1)], np.nan)
    return FlagRun(flagged, first)


def simulate_split(
    policy: Policy,
    rng: np.random.Generator,
    *,
    experiments: int,
    periods: Sequence[tuple[float, float, int]],
    batch: int,
) -> FlagRun:
    """The sequential split test over consecutive periods of (planned, true share, requests).

    Checked after every ``batch`` requests; each period is tested against its own
    planned share and the e-values of the periods multiply, as in ``srm_test``.
    """
    threshold = math.log(1 / policy.srm_p_threshold)
    flags, seen, done_log_e, offset = [], [], np.zeros(experiments), 0
    for planned, true, requests in periods:
        looks = np.arange(batch, requests + 1, batch)
        counts = rng.binomial(batch, true, size=(experiments, looks.size)).cumsum(axis=1)
        log_e = srm_log_e_value(
            counts, looks, share=planned, concentration=policy.srm_prior_concentration
        )
        flags.append(done_log_e[:, None] + log_e >= threshold)
        seen.append(offset + looks)
        done_log_e += log_e[:, -1]
        offset += requests
    return _first_flag(np.hstack(flags), np.concatenate(seen).astype(float))


def _arm_counts(
    rng: np.random.Generator, experiments: int, *, share: float, horizon: int, batch: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """(requests seen at each look, candidate requests by then, prod requests by then)."""
    looks = np.arange(batch, horizon + 1, batch)
    candidate = rng.binomial(batch, share, size=(experiments, looks.size)).cumsum(axis=1)
    return looks.astype(float), candidate, looks[None, :] - candidate


def simulate_error_rate(
    policy: Policy,
    rng: np.random.Generator,
    *,
    experiments: int,
    prod_rate: float,
    candidate_rate: float,
    share: float,
    horizon: int,
    batch: int,
) -> FlagRun:
    """The error-rate guardrail of ``decide`` on Bernoulli errors per request."""
    looks, n_c, n_p = _arm_counts(rng, experiments, share=share, horizon=horizon, batch=batch)
    added_c = np.diff(n_c, axis=1, prepend=0)
    added_p = np.diff(n_p, axis=1, prepend=0)
    e_c = rng.binomial(added_c, candidate_rate).cumsum(axis=1)
    e_p = rng.binomial(added_p, prod_rate).cumsum(axis=1)
    _difference, lower, _upper = error_rate_difference(
        prod_errors=e_p,
        prod_requests=n_p,
        candidate_errors=e_c,
        candidate_requests=n_c,
        alpha=min(2 * policy.guardrail_alpha, 0.999),
        target_n=policy.guardrail_target_requests,
    )
    judged = np.minimum(n_c, n_p) >= policy.min_requests_per_variant
    return _first_flag(judged & (lower > policy.error_rate_margin), looks)


@dataclass(frozen=True)
class LatencyModel:
    """Lognormal latencies: prod's median and spread; its p95 follows (about 186 ms)."""

    median_ms: float = 50.0
    sigma: float = 0.8

    @property
    def p95_ms(self) -> float:
        return self.median_ms * math.exp(Z_95 * self.sigma)

    def edge_factor(self, policy: Policy) -> float:
        """The scale that puts the candidate's p95 exactly at the allowed limit."""
        p95 = self.p95_ms
        limit = max(p95 * (1 + policy.p95_latency_margin), p95 + policy.p95_latency_margin_ms)
        return limit / p95


def simulate_latency(
    policy: Policy,
    rng: np.random.Generator,
    *,
    experiments: int,
    factor: float,
    share: float,
    horizon: int,
    batch: int,
    model: LatencyModel | None = None,
) -> FlagRun:
    """The latency guardrail of ``decide``: the candidate's latencies are prod's times
    ``factor`` (``LatencyModel.edge_factor`` is the edge of the margin). Arms grow by
    their share of each batch; the bounds are the order statistics at the ranks
    ``quantile_ranks`` gives, as the evidence query reads them."""
    model = model or LatencyModel()
    looks = np.arange(batch, horizon + 1, batch)
    n_c = np.round(looks * share).astype(np.int64)
    n_p = looks - n_c
    mu = math.log(model.median_ms)
    candidate = np.exp(
        mu + math.log(factor) + model.sigma * rng.standard_normal((experiments, n_c[-1]))
    )
    prod = np.exp(mu + model.sigma * rng.standard_normal((experiments, n_p[-1])))
    options = {"quantile": QUANTILE, "alpha": policy.guardrail_alpha}
    target = policy.guardrail_target_requests
    flags = np.zeros((experiments, looks.size), dtype=bool)
    for j, (k_c, k_p) in enumerate(zip(n_c, n_p, strict=True)):
        if min(k_c, k_p) < policy.min_requests_per_variant:
            continue
        low_rank, _ = quantile_ranks(k_c, target_n=target, **options)
        _, high_rank = quantile_ranks(k_p, target_n=target, **options)
        low = _order_statistic(candidate[:, :k_c], int(low_rank), -np.inf)
        high = _order_statistic(prod[:, :k_p], int(high_rank), np.inf)
        flags[:, j] = latency_breach(
            candidate_lower_ms=low,
            prod_upper_ms=high,
            margin_relative=policy.p95_latency_margin,
            margin_ms=policy.p95_latency_margin_ms,
        )
    return _first_flag(flags, looks.astype(float))


def _order_statistic(values: NDArray[np.float64], rank: int, missing: float) -> NDArray[np.float64]:
    """The rank-th smallest (1-based) of each row; ``missing`` outside 1..n."""
    n = values.shape[1]
    if not 1 <= rank <= n:
        return np.full(values.shape[0], missing)
    result: NDArray[np.float64] = np.partition(values, rank - 1, axis=1)[:, rank - 1]
    return result
