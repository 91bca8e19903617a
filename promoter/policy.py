"""The promotion policy: a pure function of an experiment's statistics and a policy file.

``decide`` judges a running experiment (promote, reject or wait); ``decide_watch`` judges a
fresh promotion against the version it replaced (roll back or wait). Neither reads a clock,
a service or a global: everything arrives in ``ExperimentStats``.
"""

import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promoter.statistics import (
    MaeComparison,
    SampleSums,
    compare_mae_paired,
    compare_mae_unpaired,
    error_rate,
    error_rate_breached,
    latency_breached,
    srm_p_value,
)

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.toml")

Action = Literal["promote", "reject", "wait", "rollback"]


class PolicyError(ValueError):
    """The policy file is missing, not TOML, or breaks a rule of ``Policy``."""


class Policy(BaseModel):
    """Thresholds of the promotion decision; see promoter/policy.toml for the reasoning."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["quality", "volume"] = Field(
        "quality",
        description="quality: decide on MAE from feedback; volume: promote on request count "
        "alone (the old stack's rule).",
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="Chance that the confidence sequence ever misleads."
    )
    srm_p_threshold: float = Field(
        0.001, gt=0, lt=1, description="A split chi-square p below this blocks every decision."
    )
    min_requests_per_variant: int = Field(
        200, ge=1, description="Requests each variant needs before guardrails or quality count."
    )
    min_feedback_per_variant: int = Field(
        100,
        ge=2,
        description="Feedback events per variant (or pairs, when paired) before the MAE "
        "comparison may decide; protects the variance estimate from heavy tails.",
    )
    cs_target_feedback: int = Field(
        20_000,
        ge=1,
        description="Total feedback (both arms) at which the unpaired interval is tightest.",
    )
    cs_target_pairs: int = Field(
        1_000, ge=1, description="Number of pairs at which the paired interval is tightest."
    )
    max_duration_hours: float = Field(
        336.0, gt=0, description="An experiment undecided after this long is rejected."
    )
    trigger_requests: int = Field(
        100, ge=1, description="Volume mode: candidate requests in the window that promote."
    )
    trigger_window_hours: float = Field(
        24.0, gt=0, description="Volume mode: the window the trigger counts over."
    )
    error_rate_margin: float = Field(
        0.01, ge=0, le=1, description="Allowed excess of the candidate's error rate (absolute)."
    )
    p95_latency_margin: float = Field(
        0.25, ge=0, description="Allowed excess of the candidate's p95 latency (relative)."
    )
    p95_latency_margin_ms: float = Field(
        50.0,
        ge=0,
        description="Allowed excess of the candidate's p95 latency (absolute, ms); a breach "
        "needs both margins exceeded.",
    )
    watch_min_feedback: int = Field(
        100, ge=2, description="Feedback per version (or pairs) before the watch judges MAE."
    )
    watch_max_hours: float = Field(
        24.0, gt=0, description="The watch after a promotion lasts this long."
    )
    prefer_paired: bool = Field(
        True, description="Use shadow-scored paired differences whenever they are present."
    )


def load_policy(path: Path | str | None = None) -> Policy:
    """Read a policy TOML file (promoter/policy.toml by default).

    Raises:
        PolicyError: naming the file and what is wrong with it.
    """
    policy_path = Path(path) if path is not None else DEFAULT_POLICY_FILE
    try:
        with policy_path.open("rb") as file:
            return Policy.model_validate(tomllib.load(file))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors()
        )
        raise PolicyError(f"policy file {policy_path}: {problems}") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PolicyError(f"policy file {policy_path}: {error}") from error


@dataclass(frozen=True)
class VariantStats:
    """One variant's traffic and feedback since the experiment (or watch) started."""

    requests: int
    errors: int
    latency_p95_ms: float
    feedback_count: int
    abs_error_sum: float
    abs_error_sq_sum: float

    def __post_init__(self) -> None:
        if min(self.requests, self.errors, self.feedback_count) < 0 or self.errors > self.requests:
            raise ValueError(f"counts must be non-negative with errors <= requests: {self}")
        if self.abs_error_sum < 0 or self.abs_error_sq_sum < 0:
            raise ValueError(f"absolute-error sums must not be negative: {self}")

    @property
    def abs_errors(self) -> SampleSums:
        return SampleSums(self.feedback_count, self.abs_error_sum, self.abs_error_sq_sum)

    @property
    def error_rate(self) -> float:
        return error_rate(self.errors, self.requests)


@dataclass(frozen=True)
class PairedStats:
    """Shadow-scored requests with feedback: sums of |err_prod| - |err_candidate|."""

    n: int
    diff_sum: float
    diff_sq_sum: float

    def __post_init__(self) -> None:
        if self.n < 0 or self.diff_sq_sum < 0:
            raise ValueError(f"n and the sum of squares must not be negative: {self}")


@dataclass(frozen=True)
class ExperimentStats:
    """Everything a decision reads. ``prod`` is the incumbent, ``candidate`` the challenger
    (in a watch: the previous best and the newly promoted version). ``paired`` is None when
    shadow scoring is off. Request counts exclude shadow requests."""

    experiment_id: str
    prod: VariantStats
    candidate: VariantStats
    expected_candidate_share: float
    started_at: datetime
    now: datetime
    paired: PairedStats | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.expected_candidate_share <= 1:
            raise ValueError(
                f"expected_candidate_share must be in [0, 1], got {self.expected_candidate_share}"
            )
        if (self.started_at.tzinfo is None) != (self.now.tzinfo is None):
            raise ValueError("started_at and now must both be timezone-aware, or both naive")

    @property
    def elapsed_hours(self) -> float:
        return max((self.now - self.started_at).total_seconds() / 3600, 0.0)


@dataclass(frozen=True)
class Decision:
    """What to do and why. ``statistics`` and ``thresholds`` are JSON-safe, for the ledger.

    ``final`` is True when the decision closes the experiment or the watch.
    """

    action: Action
    reasons: list[str]
    statistics: dict[str, Any]
    thresholds: dict[str, Any]
    srm_alert: bool = False
    final: bool = False


@dataclass
class _Draft:
    """A decision being assembled: the statistics gathered so far travel with it."""

    statistics: dict[str, Any]
    thresholds: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def done(
        self, action: Action, *reasons: str, srm: bool = False, final: bool = False
    ) -> Decision:
        return Decision(
            action=action,
            reasons=[*reasons, *self.notes],
            statistics=self.statistics,
            thresholds=self.thresholds,
            srm_alert=srm,
            final=final or action != "wait",
        )


def decide(stats: ExperimentStats, policy: Policy) -> Decision:
    """Judge a running experiment: promote, reject or wait, with reasons.

    Order: a sample-ratio mismatch blocks everything (wait + alert); a guardrail breach
    rejects; then volume mode counts requests, quality mode reads the MAE confidence
    sequence; an experiment past ``max_duration_hours`` without a verdict is rejected.
    """
    draft = _draft(stats, policy)
    srm_reason = _srm_reason(stats, policy, draft)
    if srm_reason:
        return draft.done("wait", srm_reason, srm=True)
    minimum = policy.min_requests_per_variant
    if policy.mode == "volume":
        minimum = min(minimum, policy.trigger_requests)  # judge guardrails at the trigger
    breaches = _guardrail_breaches(stats, policy, minimum, draft, names=("candidate", "prod"))
    if breaches:
        return draft.done("reject", *breaches)
    if policy.mode == "volume":
        return _decide_volume(stats, policy, draft)
    return _decide_quality(stats, policy, draft)


def decide_watch(stats: ExperimentStats, policy: Policy) -> Decision:
    """Judge a fresh promotion: roll back if the new version (``candidate``) regresses.

    A guardrail breach or an MAE confidence sequence entirely above 0 rolls back. The split
    check is skipped on purpose: a rollback returns to a known state, and must not be
    blocked. After ``watch_max_hours`` without regression the watch closes (final wait).
    """
    draft = _draft(stats, policy)
    breaches = _guardrail_breaches(
        stats,
        policy,
        policy.min_requests_per_variant,
        draft,
        names=("the new version", "the previous"),
    )
    if breaches:
        return draft.done("rollback", *breaches)
    comparison = _comparison(stats, policy, draft)
    enough = _enough_feedback(comparison, policy.watch_min_feedback)
    if enough and comparison.candidate_worse:
        return draft.done("rollback", "the new version errs more: " + _interval(comparison))
    if stats.elapsed_hours >= policy.watch_max_hours:
        return draft.done(
            "wait",
            f"watch over: no regression in {stats.elapsed_hours:.1f} h "
            f"(watch lasts {policy.watch_max_hours:g} h); " + _interval(comparison),
            final=True,
        )
    if not enough:
        return draft.done("wait", _sample_shortfall(comparison, policy.watch_min_feedback))
    return draft.done("wait", "no regression yet: " + _interval(comparison))


def _decide_volume(stats: ExperimentStats, policy: Policy, draft: _Draft) -> Decision:
    requests = stats.candidate.requests
    if requests >= policy.trigger_requests:
        return draft.done(
            "promote",
            f"volume mode: the candidate served {requests} requests, at least the trigger of "
            f"{policy.trigger_requests} in {policy.trigger_window_hours:g} h",
        )
    if stats.elapsed_hours >= policy.max_duration_hours:
        return draft.done("reject", _timeout(stats, policy))
    return draft.done(
        "wait",
        f"volume mode: the candidate served {requests} requests, below the trigger of "
        f"{policy.trigger_requests}",
    )


def _decide_quality(stats: ExperimentStats, policy: Policy, draft: _Draft) -> Decision:
    comparison = _comparison(stats, policy, draft)
    requests = min(stats.prod.requests, stats.candidate.requests)
    enough = requests >= policy.min_requests_per_variant and _enough_feedback(
        comparison, policy.min_feedback_per_variant
    )
    if enough and comparison.candidate_better:
        return draft.done("promote", "the candidate errs less: " + _interval(comparison))
    if enough and comparison.candidate_worse:
        return draft.done("reject", "the candidate errs more: " + _interval(comparison))
    if stats.elapsed_hours >= policy.max_duration_hours:
        return draft.done("reject", _timeout(stats, policy) + "; " + _interval(comparison))
    if comparison.n_prod + comparison.n_candidate == 0:
        kind = "paired (shadow-scored) feedback" if comparison.method == "paired" else "feedback"
        return draft.done("wait", f"no {kind} yet: 0 events, so no quality verdict is possible")
    if requests < policy.min_requests_per_variant:
        return draft.done(
            "wait",
            f"below the minimum sample: {requests} requests on the smaller variant, "
            f"{policy.min_requests_per_variant} needed",
        )
    if not enough:
        return draft.done("wait", _sample_shortfall(comparison, policy.min_feedback_per_variant))
    return draft.done("wait", "no significant MAE difference yet: " + _interval(comparison))


def _draft(stats: ExperimentStats, policy: Policy) -> _Draft:
    prod, candidate = stats.prod, stats.candidate
    total = prod.requests + candidate.requests
    statistics: dict[str, Any] = {
        "requests": {"prod": prod.requests, "candidate": candidate.requests},
        "candidate_share_expected": stats.expected_candidate_share,
        "candidate_share_observed": candidate.requests / total if total else None,
        "error_rate": {"prod": prod.error_rate, "candidate": candidate.error_rate},
        "latency_p95_ms": {
            "prod": _finite(prod.latency_p95_ms),
            "candidate": _finite(candidate.latency_p95_ms),
        },
        "feedback": {
            "prod": prod.feedback_count,
            "candidate": candidate.feedback_count,
            "pairs": stats.paired.n if stats.paired else None,
        },
        "elapsed_hours": stats.elapsed_hours,
    }
    return _Draft(statistics=statistics, thresholds=policy.model_dump(mode="json"))


def _srm_reason(stats: ExperimentStats, policy: Policy, draft: _Draft) -> str | None:
    share = stats.expected_candidate_share
    if not 0 < share < 1:
        draft.statistics["srm_p_value"] = None
        draft.notes.append(f"split check skipped: the planned candidate share is {share:g}")
        return None
    p_value = srm_p_value(
        {"prod": stats.prod.requests, "candidate": stats.candidate.requests},
        {"prod": 1 - share, "candidate": share},
    )
    draft.statistics["srm_p_value"] = p_value
    if p_value >= policy.srm_p_threshold:
        return None
    observed = draft.statistics["candidate_share_observed"]
    return (
        f"sample-ratio mismatch: the candidate got {observed:.2%} of "
        f"{stats.prod.requests + stats.candidate.requests} requests against a planned "
        f"{share:.2%} (chi-square p = {p_value:.3g} < {policy.srm_p_threshold:g}); "
        "every decision is blocked until the split is explained"
    )


def _guardrail_breaches(
    stats: ExperimentStats,
    policy: Policy,
    minimum: int,
    draft: _Draft,
    *,
    names: tuple[str, str],
) -> list[str]:
    prod, candidate = stats.prod, stats.candidate
    challenger, incumbent = names
    if min(prod.requests, candidate.requests) < minimum:
        draft.notes.append(f"guardrails not judged yet: fewer than {minimum} requests per variant")
        return []
    breaches = []
    if error_rate_breached(
        prod_rate=prod.error_rate,
        candidate_rate=candidate.error_rate,
        margin_absolute=policy.error_rate_margin,
        prod_requests=prod.requests,
        candidate_requests=candidate.requests,
    ):
        breaches.append(
            f"guardrail: {challenger}'s error rate {candidate.error_rate:.2%} exceeds "
            f"{incumbent}'s {prod.error_rate:.2%} plus the margin of "
            f"{policy.error_rate_margin:.2%} (significant at 1%)"
        )
    if latency_breached(
        prod_p95_ms=prod.latency_p95_ms,
        candidate_p95_ms=candidate.latency_p95_ms,
        margin_relative=policy.p95_latency_margin,
        margin_ms=policy.p95_latency_margin_ms,
    ):
        breaches.append(
            f"guardrail: {challenger}'s p95 latency {candidate.latency_p95_ms:.1f} ms exceeds "
            f"{incumbent}'s {prod.latency_p95_ms:.1f} ms plus {policy.p95_latency_margin:.0%} "
            f"and {policy.p95_latency_margin_ms:g} ms"
        )
    return breaches


def _comparison(stats: ExperimentStats, policy: Policy, draft: _Draft) -> MaeComparison:
    prod, candidate = stats.prod.abs_errors, stats.candidate.abs_errors
    if stats.paired is not None and policy.prefer_paired:
        paired = stats.paired
        comparison = compare_mae_paired(
            SampleSums(paired.n, paired.diff_sum, paired.diff_sq_sum),
            alpha=policy.alpha,
            target_n=policy.cs_target_pairs,
            mae_prod=_finite(prod.mean),
            mae_candidate=_finite(candidate.mean),
        )
    else:
        comparison = compare_mae_unpaired(
            prod=prod, candidate=candidate, alpha=policy.alpha, target_n=policy.cs_target_feedback
        )
    draft.statistics["mae"] = comparison.to_dict()
    return comparison


def _enough_feedback(comparison: MaeComparison, minimum: int) -> bool:
    return min(comparison.n_prod, comparison.n_candidate) >= minimum


def _sample_shortfall(comparison: MaeComparison, minimum: int) -> str:
    if comparison.method == "paired":
        return (
            f"below the minimum sample: {comparison.n_prod} pairs with feedback, {minimum} needed"
        )
    return (
        f"below the minimum sample: {comparison.n_prod} feedback events on prod and "
        f"{comparison.n_candidate} on the candidate, {minimum} needed on each"
    )


def _interval(comparison: MaeComparison) -> str:
    confidence = 1 - comparison.alpha
    return (
        f"MAE difference (candidate - prod) {comparison.difference:+.3g}, {confidence:.0%} "
        f"confidence sequence [{comparison.lower:+.3g}, {comparison.upper:+.3g}] "
        f"({comparison.method}, n = {comparison.n_prod} prod / {comparison.n_candidate} candidate)"
    )


def _timeout(stats: ExperimentStats, policy: Policy) -> str:
    return (
        f"no verdict after {stats.elapsed_hours:.1f} h, past the maximum duration of "
        f"{policy.max_duration_hours:g} h"
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
