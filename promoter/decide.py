"""The decisions: pure functions of an experiment's statistics and the policy.

``decide`` judges a running experiment (promote, reject, ramp or wait); ``decide_watch``
judges a fresh promotion against the held-back previous best on the same traffic (roll
back, end the watch, or wait). Neither reads a clock, a service or a global: everything
arrives in ``ExperimentStats``. Every repeated test here is anytime-valid, so evaluating
every few seconds does not inflate any false alarm rate (``splitstream simulate``).
"""

from promoter.checks import (
    WATCH_ARMS,
    Draft,
    comparison,
    enough_feedback,
    guardrail_breaches,
    interval,
    sample_shortfall,
    split_mismatch,
    start_draft,
)
from promoter.decision import Decision
from promoter.experiment import ExperimentStats
from promoter.policy import Policy

__all__ = ["Decision", "decide", "decide_watch"]


def decide(stats: ExperimentStats, policy: Policy) -> Decision:
    """Judge a running experiment: promote, reject, ramp up or wait, with reasons.

    Order: evidence that is not finite blocks everything but the timeout (wait + alert);
    a sample-ratio mismatch blocks everything (wait + alert); a guardrail breach rejects;
    then volume mode counts requests, quality mode reads the MAE confidence sequence; with
    no verdict the ramp may step up; an experiment past ``max_duration_hours`` is rejected.
    """
    draft = start_draft(stats, policy)
    blocked = _blocked(stats, policy, draft)
    if blocked is not None:
        return blocked
    minimum = policy.min_requests_per_variant
    if policy.mode == "volume":
        minimum = min(minimum, policy.trigger_requests)  # judge guardrails at the trigger
    judged, breaches = guardrail_breaches(stats, policy, minimum, draft, names=_EXPERIMENT)
    if breaches:
        return draft.done("reject", *breaches)
    verdict = _volume(stats, policy, draft) if policy.mode == "volume" else None
    verdict = verdict or _quality(stats, policy, draft)
    if verdict is not None:
        return verdict
    step = _ramp(stats, policy, draft, guardrails_judged=judged)
    if step is not None:
        return step
    if stats.elapsed_hours >= policy.max_duration_hours:
        return draft.done("reject", _timeout(stats, policy), *draft.waiting)
    return draft.done("wait", *draft.waiting)


def decide_watch(stats: ExperimentStats, policy: Policy) -> Decision:
    """Judge a fresh promotion: ``candidate`` is the new best, ``prod`` the held-back
    previous best, both serving the same period's traffic.

    A guardrail breach or an MAE confidence sequence entirely above 0 rolls back (a split
    mismatch does not block it: a rollback returns to a known state). The watch ends
    early once the new version errs significantly less on the same traffic and the
    guardrails have been judged and hold (and the split matches its plan), and at the
    latest after ``watch_max_hours``.
    """
    draft = start_draft(stats, policy)
    draft.statistics["arms"] = dict(zip(("prod", "candidate"), WATCH_ARMS, strict=True))
    problems = stats.problems()
    if problems:
        return draft.done("wait", _untrusted(problems), evidence=True)
    mismatch = split_mismatch(stats, policy, draft)
    judged, breaches = guardrail_breaches(
        stats, policy, policy.min_requests_per_variant, draft, names=_WATCH
    )
    if breaches:
        return draft.done("rollback", *breaches)
    compared = comparison(stats, policy, draft)
    enough = enough_feedback(compared, policy.watch_min_feedback)
    if enough and compared.candidate_worse:
        return draft.done(
            "rollback", "the new version errs more: " + interval(compared, WATCH_ARMS)
        )
    if enough and compared.candidate_better and judged and mismatch is None:
        return draft.done(
            "end_watch",
            "watch passed: the new version errs less than the previous one on the same "
            "traffic: " + interval(compared, WATCH_ARMS),
        )
    if stats.elapsed_hours >= policy.watch_max_hours:
        return draft.done(
            "end_watch",
            f"watch over: no regression in {stats.elapsed_hours:.1f} h "
            f"(the watch lasts {policy.watch_max_hours:g} h); " + interval(compared, WATCH_ARMS),
        )
    if mismatch is not None:
        return draft.done("wait", mismatch, srm=True)
    if not enough:
        return draft.done("wait", sample_shortfall(compared, policy.watch_min_feedback))
    return draft.done("wait", "no regression yet: " + interval(compared, WATCH_ARMS))


_EXPERIMENT = ("the candidate", "prod")
_WATCH = ("the new version", "the previous one")


def _blocked(stats: ExperimentStats, policy: Policy, draft: Draft) -> Decision | None:
    problems = stats.problems()
    if problems and stats.elapsed_hours >= policy.max_duration_hours:
        # the timeout needs no statistic, so evidence that cannot be read cannot stall it
        return draft.done("reject", _timeout(stats, policy), _untrusted(problems), evidence=True)
    if problems:
        return draft.done("wait", _untrusted(problems), evidence=True)
    mismatch = split_mismatch(stats, policy, draft)
    if mismatch is not None:
        return draft.done("wait", mismatch, srm=True)
    return None


def _untrusted(problems: list[str]) -> str:
    return (
        "the evidence is not finite: " + "; ".join(problems) + ". No decision is taken on it "
        "until it is explained (every statistic would overflow)"
    )


def _volume(stats: ExperimentStats, policy: Policy, draft: Draft) -> Decision | None:
    requests = stats.candidate.requests
    if requests >= policy.trigger_requests:
        return draft.done(
            "promote",
            f"volume mode: the candidate served {requests} requests, at least the trigger of "
            f"{policy.trigger_requests} in {policy.trigger_window_hours:g} h",
        )
    draft.waiting.append(
        f"volume mode: the candidate served {requests} requests, below the trigger of "
        f"{policy.trigger_requests}"
    )
    return None


def _quality(stats: ExperimentStats, policy: Policy, draft: Draft) -> Decision | None:
    if policy.mode == "volume":
        return None
    compared = comparison(stats, policy, draft)
    requests = min(stats.prod.requests, stats.candidate.requests)
    enough = requests >= policy.min_requests_per_variant and enough_feedback(
        compared, policy.min_feedback_per_variant
    )
    if enough and compared.candidate_better:
        return draft.done("promote", "the candidate errs less: " + interval(compared))
    if enough and compared.candidate_worse:
        return draft.done("reject", "the candidate errs more: " + interval(compared))
    draft.waiting.append(_why_waiting(stats, policy, compared_enough=enough, draft=draft))
    return None


def _why_waiting(
    stats: ExperimentStats, policy: Policy, *, compared_enough: bool, draft: Draft
) -> str:
    compared = draft.compared
    assert compared is not None
    requests = min(stats.prod.requests, stats.candidate.requests)
    if compared.n_prod + compared.n_candidate == 0:
        kind = "paired (shadow-scored) feedback" if compared.method == "paired" else "feedback"
        return f"no {kind} yet: 0 events, so no quality verdict is possible"
    if requests < policy.min_requests_per_variant:
        return (
            f"below the minimum sample: {requests} requests on the smaller variant, "
            f"{policy.min_requests_per_variant} needed"
        )
    if not compared_enough:
        return sample_shortfall(compared, policy.min_feedback_per_variant)
    return "no significant MAE difference yet: " + interval(compared)


def _ramp(
    stats: ExperimentStats, policy: Policy, draft: Draft, *, guardrails_judged: bool
) -> Decision | None:
    """The next ramp step, once the guardrails held for the step's minimum duration."""
    share = stats.expected_candidate_share
    following = policy.next_ramp_step(share)
    if following is None:
        return None
    held = stats.hours_at_this_share
    if not guardrails_judged or held < policy.ramp_step_min_hours:
        draft.waiting.append(
            f"ramp: {share:.0%} until the guardrails have held for "
            f"{policy.ramp_step_min_hours:g} h ({held:.2f} h so far"
            f"{'' if guardrails_judged else ', guardrails not judged yet'})"
        )
        return None
    step = policy.ramp_steps.index(following) + 1
    return draft.done(
        "ramp",
        f"ramp step {step} of {len(policy.ramp_steps)}: the candidate's share goes from "
        f"{share:.0%} to {following:.0%}; the guardrails held for {held:.2f} h "
        f"(at least {policy.ramp_step_min_hours:g} h) and the split matched the plan",
        *draft.waiting,
        next_share=following,
    )


def _timeout(stats: ExperimentStats, policy: Policy) -> str:
    return (
        f"no verdict after {stats.elapsed_hours:.1f} h, past the maximum duration of "
        f"{policy.max_duration_hours:g} h"
    )
