"""The MAE rule's simulation: synthetic feedback streams watched continuously.

Each simulated experiment draws absolute errors batch by batch and applies the policy's MAE
rule (the same confidence sequence as ``decide``) after every batch, until it promotes,
rejects, or reaches the horizon (the feedback that arrives within ``max_duration_hours``),
where an undecided candidate is rejected. All experiments advance together as numpy arrays.
The figures assume the request minimum is met (every feedback event has its request).
"""

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from promoter.policy import Policy
from promoter.statistics import cs_half_width, cs_rho

#: Feedback per experiment before the maximum duration rejects it, by method. With the
#: default policy the 10%-better candidate is promoted in >= 80% of runs within these:
#: 50,000 feedback events over both arms at a 20% candidate share (10,000 on the
#: candidate), or 1,000 shadow-scored pairs.
DEFAULT_HORIZON = {"unpaired": 50_000, "paired": 1_000}
#: Feedback between two checks: 500 and 100 checks per experiment, respectively.
DEFAULT_BATCH = {"unpaired": 100, "paired": 10}

PROMOTE, WAIT, REJECT = 1, 0, -1


@dataclass(frozen=True)
class StreamModel:
    """Absolute errors as measured on this data (DESIGN.md): mean ~25 lakhs, sd ~55.

    Errors are lognormal with that mean and sd. In paired streams the candidate's error is
    prod's times a lognormal factor, sized so the per-request differences have
    ``paired_sd_ratio`` of the sd of the errors themselves.
    """

    mean_abs_error: float = 25.0
    sd_abs_error: float = 55.0
    paired_sd_ratio: float = 1 / 3

    def lognormal(self, scale: float = 1.0) -> tuple[float, float]:
        """(mu, sigma) of a lognormal with mean ``scale * mean_abs_error`` and the same CV."""
        sigma2 = math.log1p((self.sd_abs_error / self.mean_abs_error) ** 2)
        return math.log(scale * self.mean_abs_error) - sigma2 / 2, math.sqrt(sigma2)

    def paired_factor_sigma(self) -> float:
        """sigma of the factor exp(N(., sigma^2)) giving the target sd of differences."""
        second_moment = self.mean_abs_error**2 + self.sd_abs_error**2
        target_var = (self.paired_sd_ratio * self.sd_abs_error) ** 2
        return math.sqrt(math.log1p(target_var / second_moment))


@dataclass
class ArmSums:
    """Running sufficient statistics of many experiments at once (one entry each)."""

    n: NDArray[np.float64]
    total: NDArray[np.float64]
    sq_total: NDArray[np.float64]

    @classmethod
    def zeros(cls, experiments: int) -> "ArmSums":
        return cls(*(np.zeros(experiments) for _ in range(3)))

    def add(self, values: NDArray[np.float64], mask: NDArray[np.bool_]) -> None:
        self.n += mask.sum(axis=1)
        self.total += np.where(mask, values, 0.0).sum(axis=1)
        self.sq_total += np.where(mask, values**2, 0.0).sum(axis=1)

    def select(self, active: NDArray[np.intp]) -> "ArmSums":
        return ArmSums(self.n[active], self.total[active], self.sq_total[active])

    def store(self, active: NDArray[np.intp], part: "ArmSums") -> None:
        self.n[active], self.total[active], self.sq_total[active] = (
            part.n,
            part.total,
            part.sq_total,
        )

    def variance(self) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.maximum(self.sq_total - self.total**2 / self.n, 0.0) / (self.n - 1)
        return np.where(self.n >= 2, var, np.inf)

    def mean(self) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.total / self.n


def unpaired_verdicts(prod: ArmSums, candidate: ArmSums, policy: Policy) -> NDArray[np.int8]:
    """The quality rule of ``decide`` on unpaired sums: PROMOTE, REJECT or WAIT each."""
    t = prod.n + candidate.n
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(t * (prod.variance() / prod.n + candidate.variance() / candidate.n))
    rho = cs_rho(policy.cs_target_feedback, policy.alpha)
    half = cs_half_width(t, sd, alpha=policy.alpha, rho=rho)
    difference = candidate.mean() - prod.mean()
    enough = np.minimum(prod.n, candidate.n) >= policy.min_feedback_per_variant
    return _verdicts(difference, half, enough)


def paired_verdicts(differences: ArmSums, policy: Policy) -> NDArray[np.int8]:
    """The quality rule of ``decide`` on paired sums of |err_prod| - |err_candidate|."""
    rho = cs_rho(policy.cs_target_pairs, policy.alpha)
    half = cs_half_width(
        differences.n, np.sqrt(differences.variance()), alpha=policy.alpha, rho=rho
    )
    enough = differences.n >= policy.min_feedback_per_variant
    return _verdicts(-differences.mean(), half, enough)


def _verdicts(
    difference: NDArray[np.float64], half: NDArray[np.float64], enough: NDArray[np.bool_]
) -> NDArray[np.int8]:
    verdict = np.full(difference.shape, WAIT, dtype=np.int8)
    verdict[enough & (difference + half < 0)] = PROMOTE
    verdict[enough & (difference - half > 0)] = REJECT
    return verdict


@dataclass(frozen=True)
class QualityRun:
    """Per experiment: the verdict (timeouts count as REJECT) and the feedback it took."""

    verdicts: NDArray[np.int8]
    samples: NDArray[np.int64]
    timed_out: NDArray[np.bool_]

    @property
    def promotion_rate(self) -> float:
        return float(np.mean(self.verdicts == PROMOTE))

    @property
    def decision_rate(self) -> float:
        """Share of experiments promoted or rejected before the horizon (timeouts excluded)."""
        return float(np.mean((self.verdicts != WAIT) & ~self.timed_out))

    @property
    def median_samples_to_promotion(self) -> float | None:
        promoted = self.samples[self.verdicts == PROMOTE]
        return float(np.median(promoted)) if promoted.size else None


@dataclass
class UnpairedStream:
    """Feedback on routed requests: each event lands on the candidate with its share."""

    policy: Policy
    rng: np.random.Generator
    model: StreamModel
    improvement: float
    candidate_share: float
    prod: ArmSums
    candidate: ArmSums

    def advance(self, active: NDArray[np.intp], size: int) -> NDArray[np.int8]:
        """Add ``size`` feedback events to each active experiment; return their verdicts."""
        mu_prod, sigma = self.model.lognormal()
        mu_candidate, _ = self.model.lognormal(1 - self.improvement)
        to_candidate = self.rng.random((active.size, size)) < self.candidate_share
        mu = np.where(to_candidate, mu_candidate, mu_prod)
        errors = np.exp(mu + sigma * self.rng.standard_normal((active.size, size)))
        prod, candidate = self.prod.select(active), self.candidate.select(active)
        prod.add(errors, ~to_candidate)
        candidate.add(errors, to_candidate)
        self.prod.store(active, prod)
        self.candidate.store(active, candidate)
        return unpaired_verdicts(prod, candidate, self.policy)


@dataclass
class PairedStream:
    """Shadow-scored requests with feedback: both versions' errors on the same request."""

    policy: Policy
    rng: np.random.Generator
    model: StreamModel
    improvement: float
    differences: ArmSums

    def advance(self, active: NDArray[np.intp], size: int) -> NDArray[np.int8]:
        """Add ``size`` pairs to each active experiment; return their verdicts."""
        mu, sigma = self.model.lognormal()
        factor_sigma = self.model.paired_factor_sigma()
        shape = (active.size, size)
        prod_errors = np.exp(mu + sigma * self.rng.standard_normal(shape))
        log_factor = math.log(1 - self.improvement) - factor_sigma**2 / 2
        factor = np.exp(log_factor + factor_sigma * self.rng.standard_normal(shape))
        differences = self.differences.select(active)
        differences.add(prod_errors - prod_errors * factor, np.ones(shape, dtype=bool))
        self.differences.store(active, differences)
        return paired_verdicts(differences, self.policy)


def simulate_quality(
    policy: Policy,
    rng: np.random.Generator,
    *,
    experiments: int,
    improvement: float,
    paired: bool,
    horizon: int,
    batch: int,
    candidate_share: float = 0.2,
    model: StreamModel | None = None,
) -> QualityRun:
    """Run ``experiments`` experiments under continuous monitoring, one check per batch.

    Args:
        improvement: the candidate's MAE is (1 - improvement) times prod's (0: identical).
        paired: paired streams (``horizon`` and ``batch`` count pairs) or unpaired ones
            (they count feedback events over both arms, the candidate getting
            ``candidate_share`` of them).
        horizon: feedback after which an undecided experiment is rejected.
        batch: feedback between two checks.
    """
    model = model or StreamModel()
    stream: UnpairedStream | PairedStream
    if paired:
        stream = PairedStream(policy, rng, model, improvement, ArmSums.zeros(experiments))
    else:
        stream = UnpairedStream(
            policy,
            rng,
            model,
            improvement,
            candidate_share,
            ArmSums.zeros(experiments),
            ArmSums.zeros(experiments),
        )
    verdicts = np.zeros(experiments, dtype=np.int8)
    samples = np.full(experiments, horizon, dtype=np.int64)
    seen = 0
    while seen < horizon and (verdicts == WAIT).any():
        active = np.flatnonzero(verdicts == WAIT)
        size = min(batch, horizon - seen)
        seen += size
        now = stream.advance(active, size)
        decided = now != WAIT
        verdicts[active[decided]] = now[decided]
        samples[active[decided]] = seen
    timed_out = verdicts == WAIT
    return QualityRun(np.where(timed_out, REJECT, verdicts), samples, timed_out)
