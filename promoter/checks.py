"""The building blocks of a decision: the split test, the guardrails and the MAE comparison.

Each check reads ``ExperimentStats``, writes what it computed into the decision's draft
(so the ledger carries every number a decision rests on) and says whether it objects.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from promoter.decision import Action, Decision
from promoter.experiment import ExperimentStats
from promoter.policy import Policy
from promoter.sequential import error_rate_difference, latency_breach, srm_test
from promoter.statistics import (
    MaeComparison,
    SampleSums,
    compare_mae_paired,
    compare_mae_unpaired,
)


@dataclass
class Draft:
    """A decision being assembled: the statistics gathered so far travel with it."""

    statistics: dict[str, Any]
    thresholds: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    compared: MaeComparison | None = None

    def done(
        self,
        action: Action,
        *reasons: str,
        srm: bool = False,
        evidence: bool = False,
        next_share: float | None = None,
    ) -> Decision:
        final = action in ("promote", "reject", "rollback", "end_watch")
        return Decision(
            action=action,
            reasons=[*dict.fromkeys([*reasons, *self.notes])],
            statistics=self.statistics,
            thresholds=self.thresholds,
            srm_alert=srm,
            evidence_alert=evidence,
            final=final,
            next_share=next_share,
        )


def start_draft(stats: ExperimentStats, policy: Policy) -> Draft:
    prod, candidate = stats.prod, stats.candidate
    total = prod.requests + candidate.requests
    statistics: dict[str, Any] = {
        "requests": {"prod": prod.requests, "candidate": candidate.requests},
        "candidate_share_expected": stats.expected_candidate_share,
        "candidate_share_observed": candidate.requests / total if total else None,
        "error_rate": {"prod": prod.error_rate, "candidate": candidate.error_rate},
        "latency_p95_ms": {
            "prod": finite(prod.latency_p95_ms),
            "candidate": finite(candidate.latency_p95_ms),
        },
        "latency_p95_bounds_ms": {
            "prod_upper": finite(prod.latency_p95_upper_ms),
            "candidate_lower": finite(candidate.latency_p95_lower_ms),
        },
        "feedback": {
            "prod": prod.feedback_count,
            "candidate": candidate.feedback_count,
            "pairs": stats.paired.n if stats.paired else None,
        },
        "elapsed_hours": stats.elapsed_hours,
        "hours_at_this_share": stats.hours_at_this_share,
        "arms": dict(zip(("prod", "candidate"), EXPERIMENT_ARMS, strict=True)),
    }
    return Draft(statistics=statistics, thresholds=policy.model_dump(mode="json"))


def split_mismatch(stats: ExperimentStats, policy: Policy, draft: Draft) -> str | None:
    """The sequential split test over every period of constant share; why it fails, or None."""
    periods = stats.split_periods
    test = srm_test(periods, concentration=policy.srm_prior_concentration)
    draft.statistics["srm"] = {
        "log_e_value": test.log_e_value,
        "p_value": test.p_value,
        "periods": [
            {"share": p.candidate_share, "prod": p.prod, "candidate": p.candidate} for p in periods
        ],
    }
    draft.statistics["srm_p_value"] = test.p_value if test.periods else None
    if not test.periods:
        if any(0 < p.candidate_share < 1 for p in periods) or not periods:
            draft.notes.append(
                "split check: no request counted yet (those within "
                f"{policy.share_settle_s:g} s of a share change are left out)"
            )
        else:
            draft.notes.append("split check skipped: no period with a planned share in (0, 1)")
        return None
    if test.p_value >= policy.srm_p_threshold:
        return None
    shown = "; ".join(
        f"{p.candidate / (p.prod + p.candidate):.2%} of {p.prod + p.candidate} at a planned "
        f"{p.candidate_share:.0%}"
        for p in periods
        if p.prod + p.candidate
    )
    return (
        f"sample-ratio mismatch: the candidate got {shown} (sequential test over "
        f"{test.periods} period(s), p = {test.p_value:.3g} < {policy.srm_p_threshold:g}); "
        "every decision is blocked until the split is explained"
    )


def guardrail_breaches(
    stats: ExperimentStats,
    policy: Policy,
    minimum: int,
    draft: Draft,
    *,
    names: tuple[str, str],
) -> tuple[bool, list[str]]:
    """(judged, breaches): the error-rate and latency guardrails, once both arms have
    ``minimum`` requests. A breach needs its anytime-valid bound past the margin."""
    prod, candidate = stats.prod, stats.candidate
    challenger, incumbent = names
    if min(prod.requests, candidate.requests) < minimum:
        draft.notes.append(f"guardrails not judged yet: fewer than {minimum} requests per variant")
        return False, []
    difference, lower, upper = (
        float(x)
        for x in error_rate_difference(
            prod_errors=prod.errors,
            prod_requests=prod.requests,
            candidate_errors=candidate.errors,
            candidate_requests=candidate.requests,
            alpha=min(2 * policy.guardrail_alpha, 0.999),  # one-sided at guardrail_alpha
            target_n=policy.guardrail_target_requests,
        )
    )
    draft.statistics["error_rate_difference"] = {
        "difference": difference,
        "lower": finite(lower),
        "upper": finite(upper),
    }
    breaches = []
    if lower > policy.error_rate_margin:
        breaches.append(
            f"guardrail: {challenger}'s error rate {candidate.error_rate:.2%} exceeds "
            f"{incumbent}'s {prod.error_rate:.2%} by at least {lower:.2%} (anytime-valid bound), "
            f"more than the margin of {policy.error_rate_margin:.2%}"
        )
    if latency_breach(
        candidate_lower_ms=candidate.latency_p95_lower_ms,
        prod_upper_ms=prod.latency_p95_upper_ms,
        margin_relative=policy.p95_latency_margin,
        margin_ms=policy.p95_latency_margin_ms,
    ):
        breaches.append(
            f"guardrail: {challenger}'s p95 latency {candidate.latency_p95_ms:.1f} ms is at least "
            f"{candidate.latency_p95_lower_ms:.1f} ms, while {incumbent}'s "
            f"{prod.latency_p95_ms:.1f} ms is at most {prod.latency_p95_upper_ms:.1f} ms "
            f"(anytime-valid bounds): more than {policy.p95_latency_margin:.0%} and "
            f"{policy.p95_latency_margin_ms:g} ms over"
        )
    return True, breaches


def comparison(stats: ExperimentStats, policy: Policy, draft: Draft) -> MaeComparison:
    """The MAE confidence sequence: on shadow pairs when there are any (and preferred)."""
    prod, candidate = stats.prod.abs_errors, stats.candidate.abs_errors
    if stats.paired is not None and policy.prefer_paired:
        paired = stats.paired
        compared = compare_mae_paired(
            SampleSums(paired.n, paired.diff_sum, paired.diff_sq_sum),
            alpha=policy.alpha,
            target_n=policy.cs_target_pairs,
            mae_prod=paired.mae_prod,
            mae_candidate=paired.mae_candidate,
        )
    else:
        compared = compare_mae_unpaired(
            prod=prod, candidate=candidate, alpha=policy.alpha, target_n=policy.cs_target_feedback
        )
    draft.statistics["mae"] = compared.to_dict()
    draft.compared = compared
    return compared


def enough_feedback(compared: MaeComparison, minimum: int) -> bool:
    return min(compared.n_prod, compared.n_candidate) >= minimum


def sample_shortfall(compared: MaeComparison, minimum: int) -> str:
    if compared.method == "paired":
        return f"below the minimum sample: {compared.n_prod} pairs with feedback, {minimum} needed"
    return (
        f"below the minimum sample: {compared.n_prod} feedback events on prod and "
        f"{compared.n_candidate} on the candidate, {minimum} needed on each"
    )


#: What the two arms are called in an experiment, and in a watch (where the held-back
#: previous best is judged as the incumbent and the newly promoted version as the challenger).
EXPERIMENT_ARMS = ("prod", "candidate")
WATCH_ARMS = ("previous", "new")


def interval(compared: MaeComparison, arms: tuple[str, str] = EXPERIMENT_ARMS) -> str:
    """The MAEs the decision compared, then their difference and its interval."""
    incumbent, challenger = arms
    confidence = 1 - compared.alpha
    bounds = f"{confidence:.0%} confidence sequence [{compared.lower:+.3g}, {compared.upper:+.3g}]"
    difference = f"difference ({challenger} - {incumbent}) {compared.difference:+.3g}"
    if compared.method == "paired":
        maes = ""
        if compared.mae_prod is not None and compared.mae_candidate is not None:
            maes = (
                f"MAE {incumbent} {compared.mae_prod:.3g}, "
                f"{challenger} {compared.mae_candidate:.3g} "
            )
        return f"{maes}on the same {compared.n_prod} requests (paired); {difference}, {bounds}"
    return (
        f"MAE {incumbent} {_maybe(compared.mae_prod)} on {compared.n_prod} requests, "
        f"{challenger} {_maybe(compared.mae_candidate)} on {compared.n_candidate} (unpaired); "
        f"{difference}, {bounds}"
    )


def _maybe(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3g}"


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
