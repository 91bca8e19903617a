"""The promotion policy, rule by rule, on hand-built statistics."""

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promoter.decide import decide, decide_watch
from promoter.decision import Decision
from promoter.errors import PolicyError
from promoter.experiment import ExperimentStats, PairedStats, VariantStats
from promoter.policy import DEFAULT_POLICY_FILE, Policy, load_policy
from promoter.sequential import PeriodCounts
from promoter.statistics import SampleSums

START = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy()


def _variant(
    *,
    requests: int = 10_000,
    errors: int = 0,
    p95_ms: float = 100.0,
    feedback: int = 0,
    mae: float = 25.0,
    sd: float = 55.0,
    p95_bounds: tuple[float, float] = (-math.inf, math.inf),
) -> VariantStats:
    """A variant whose absolute errors have exactly this count, mean and sample sd."""
    return VariantStats(
        requests=requests,
        errors=errors,
        latency_p95_ms=p95_ms,
        feedback_count=feedback,
        abs_error_sum=feedback * mae,
        abs_error_sq_sum=max(feedback - 1, 0) * sd**2 + feedback * mae**2,
        latency_p95_lower_ms=p95_bounds[0],
        latency_p95_upper_ms=p95_bounds[1],
    )


def _stats(
    *,
    prod: VariantStats | None = None,
    candidate: VariantStats | None = None,
    hours: float = 24.0,
    paired: PairedStats | None = None,
) -> ExperimentStats:
    """An experiment at a 20% candidate share whose split matches the plan by default."""
    return ExperimentStats(
        experiment_id="exp-1",
        prod=prod or _variant(requests=40_000),
        candidate=candidate or _variant(requests=10_000),
        expected_candidate_share=0.2,
        started_at=START,
        now=START + timedelta(hours=hours),
        paired=paired,
    )


def _feedback(prod_mae: float, candidate_mae: float, *, n: int = 20_000) -> ExperimentStats:
    return _stats(
        prod=_variant(requests=40_000, feedback=4 * n, mae=prod_mae),
        candidate=_variant(requests=10_000, feedback=n, mae=candidate_mae),
    )


def _pairs(
    mean_diff: float, *, n: int = 2_000, sd: float = 18.0, prod_mae: float = 25.0
) -> PairedStats:
    return PairedStats(
        n=n,
        diff_sum=n * mean_diff,
        diff_sq_sum=(n - 1) * sd**2 + n * mean_diff**2,
        prod_abs_error_sum=n * prod_mae,
        candidate_abs_error_sum=n * (prod_mae - mean_diff),
    )


def _ledger_safe(decision: Decision) -> None:
    json.dumps(
        {"statistics": decision.statistics, "thresholds": decision.thresholds}, allow_nan=False
    )


# --------------------------------------------------------------------------- quality


def test_clearly_better_candidate_is_promoted_with_both_maes_and_the_interval() -> None:
    decision = decide(_feedback(25.0, 20.0), POLICY)
    assert decision.action == "promote" and decision.final
    reason = decision.reasons[0]
    assert reason.startswith("the candidate errs less: MAE prod 25")
    assert "candidate 20" in reason and "95% confidence sequence" in reason
    assert decision.statistics["mae"]["upper"] < 0
    _ledger_safe(decision)


def test_clearly_worse_candidate_is_rejected() -> None:
    decision = decide(_feedback(20.0, 25.0), POLICY)
    assert decision.action == "reject"
    assert decision.reasons[0].startswith("the candidate errs more")


def test_inconclusive_evidence_waits_and_shows_the_interval() -> None:
    decision = decide(_feedback(25.0, 24.9), POLICY)
    assert decision.action == "wait" and not decision.final
    assert decision.reasons[0].startswith("no significant MAE difference yet")
    assert decision.statistics["mae"]["lower"] < 0 < decision.statistics["mae"]["upper"]


def test_a_paired_decision_shows_both_maes_on_the_same_pairs_and_they_agree() -> None:
    # Given pairs where the candidate errs 2.5 lakhs less than prod's 25 on the same requests
    stats = replace(_feedback(25.0, 24.0, n=500), paired=_pairs(2.5))
    decision = decide(stats, POLICY)
    assert decision.action == "promote"
    mae = decision.statistics["mae"]
    # Then the record carries the two MAEs the difference came from, consistent with it
    assert mae["method"] == "paired"
    assert (mae["mae_prod"], mae["mae_candidate"]) == pytest.approx((25.0, 22.5))
    assert mae["mae_candidate"] - mae["mae_prod"] == pytest.approx(mae["difference"])
    assert "MAE prod 25, candidate 22.5 on the same 2000 requests (paired)" in decision.reasons[0]


def test_paired_differences_decide_where_unpaired_evidence_cannot() -> None:
    stats = replace(_feedback(25.0, 24.0, n=500), paired=_pairs(2.5))
    assert decide(replace(stats, paired=None), POLICY).action == "wait"
    assert decide(stats, POLICY).action == "promote"
    unpaired = decide(stats, POLICY.model_copy(update={"prefer_paired": False}))
    assert unpaired.action == "wait" and unpaired.statistics["mae"]["method"] == "unpaired"


def test_paired_mode_without_pairs_waits_for_them() -> None:
    decision = decide(replace(_feedback(25.0, 20.0), paired=PairedStats(0, 0.0, 0.0)), POLICY)
    assert decision.action == "wait" and "paired" in decision.reasons[0]


def test_without_any_feedback_the_policy_waits() -> None:
    decision = decide(_stats(), POLICY)
    assert decision.action == "wait" and decision.reasons[0].startswith("no feedback yet")


def test_below_the_minimum_feedback_a_striking_difference_still_waits() -> None:
    stats = _stats(
        prod=_variant(requests=40_000, feedback=50, mae=25.0, sd=1.0),
        candidate=_variant(requests=10_000, feedback=50, mae=10.0, sd=1.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait" and "below the minimum sample" in decision.reasons[0]


def test_below_the_minimum_requests_the_policy_waits() -> None:
    stats = _stats(
        prod=_variant(requests=400, feedback=300, mae=25.0, sd=1.0),
        candidate=_variant(requests=100, feedback=100, mae=10.0, sd=1.0),
    )
    decision = decide(stats, POLICY)
    assert (
        decision.action == "wait" and "100 requests on the smaller variant" in decision.reasons[0]
    )


def test_undecided_experiment_is_rejected_after_the_maximum_duration() -> None:
    before = decide(replace(_feedback(25.0, 24.8), now=START + timedelta(hours=335)), POLICY)
    after = decide(replace(_feedback(25.0, 24.8), now=START + timedelta(hours=337)), POLICY)
    assert before.action == "wait"
    assert after.action == "reject" and "maximum duration of 336 h" in after.reasons[0]


def test_volume_mode_promotes_on_the_old_stacks_request_count_without_feedback() -> None:
    volume = POLICY.model_copy(update={"mode": "volume"})
    few = _stats(prod=_variant(requests=400), candidate=_variant(requests=99))
    enough = _stats(prod=_variant(requests=400), candidate=_variant(requests=100))
    assert decide(few, volume).action == "wait"
    decision = decide(enough, volume)
    assert decision.action == "promote" and "100" in decision.reasons[0]


def test_volume_mode_still_applies_guardrails_at_the_trigger() -> None:
    volume = POLICY.model_copy(update={"mode": "volume"})
    stats = _stats(prod=_variant(requests=400), candidate=_variant(requests=100, errors=40))
    assert decide(stats, volume).action == "reject"


# --------------------------------------------------------------------------- the split


def test_sample_ratio_mismatch_blocks_even_a_clear_promotion_and_alerts() -> None:
    # Given a clearly better candidate that got 25% of the traffic against a planned 20%
    stats = replace(
        _feedback(25.0, 20.0),
        prod=_variant(requests=37_500, feedback=80_000, mae=25.0),
        candidate=_variant(requests=12_500, feedback=20_000, mae=20.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait" and decision.srm_alert and decision.alert_kind == "srm"
    assert decision.reasons[0].startswith("sample-ratio mismatch")
    assert decision.statistics["srm_p_value"] < POLICY.srm_p_threshold


def test_each_period_of_constant_share_is_tested_against_its_own_share() -> None:
    # Given 10,000 requests at a planned 5% and 10,000 at a planned 50%, each as planned
    periods = (PeriodCounts(0.05, 9_500, 500), PeriodCounts(0.5, 5_000, 5_000))
    stats = replace(
        _stats(prod=_variant(requests=14_500), candidate=_variant(requests=5_500)),
        expected_candidate_share=0.5,
        periods=periods,
    )
    # Then the split holds, though all requests against the current share would not
    decision = decide(stats, POLICY)
    assert not decision.srm_alert
    assert len(decision.statistics["srm"]["periods"]) == 2
    lumped = decide(replace(stats, periods=None), POLICY)
    assert lumped.srm_alert


def test_a_period_routed_off_its_plan_is_caught_even_if_the_total_looks_fine() -> None:
    # 25% in a 20% period and 15% in the next 20% period: 20% overall, wrong in each
    periods = (PeriodCounts(0.2, 15_000, 5_000), PeriodCounts(0.2, 17_000, 3_000))
    stats = replace(_stats(), periods=periods)
    assert decide(stats, POLICY).srm_alert


def test_a_split_planned_at_zero_or_one_carries_no_test() -> None:
    stats = replace(_stats(), expected_candidate_share=0.0, periods=(PeriodCounts(0.0, 100, 5),))
    decision = decide(stats, POLICY)
    assert not decision.srm_alert and decision.statistics["srm_p_value"] is None


# --------------------------------------------------------------------------- guardrails


def test_a_significant_error_rate_excess_beyond_the_margin_is_rejected() -> None:
    stats = _stats(candidate=_variant(requests=10_000, errors=500))
    decision = decide(stats, POLICY)
    assert decision.action == "reject"
    assert "error rate 5.00% exceeds prod's 0.00% by at least" in decision.reasons[0]
    assert decision.statistics["error_rate_difference"]["lower"] > POLICY.error_rate_margin


def test_an_error_rate_excess_within_noise_is_not_a_breach() -> None:
    # 5.0% of 250 against 3.68% of 750: 0.3 points over the margin, far inside the noise
    stats = _stats(
        prod=_variant(requests=750, errors=28), candidate=_variant(requests=250, errors=13)
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait"


def test_a_p95_whose_bounds_exceed_both_margins_is_rejected() -> None:
    stats = _stats(
        prod=_variant(requests=40_000, p95_ms=100.0, p95_bounds=(95.0, 105.0)),
        candidate=_variant(requests=10_000, p95_ms=200.0, p95_bounds=(190.0, 210.0)),
    )
    decision = decide(stats, POLICY)
    assert (
        decision.action == "reject"
        and "p95 latency 200.0 ms is at least 190.0" in (decision.reasons[0])
    )


def test_a_p95_excess_within_the_absolute_margin_or_unbounded_is_not_a_breach() -> None:
    within = _stats(
        prod=_variant(p95_ms=100.0, p95_bounds=(99.0, 101.0)),
        candidate=_variant(p95_ms=140.0, p95_bounds=(139.0, 141.0)),
    )
    unknown = _stats(prod=_variant(p95_ms=100.0), candidate=_variant(p95_ms=900.0))
    assert decide(within, POLICY).action == "wait"
    assert decide(unknown, POLICY).action == "wait"


def test_guardrails_wait_for_the_minimum_requests() -> None:
    stats = _stats(prod=_variant(requests=400), candidate=_variant(requests=100, errors=50))
    decision = decide(stats, POLICY)
    assert decision.action == "wait"
    assert any("guardrails not judged yet" in r for r in decision.reasons)


# --------------------------------------------------------------------------- the ramp

RAMP = POLICY.model_copy(update={"ramp_steps": (0.05, 0.2, 0.5), "ramp_step_min_hours": 1.0})


def _at_share(share: float, *, hours_at_share: float, requests: int = 20_000) -> ExperimentStats:
    candidate = round(requests * share)
    return replace(
        _stats(
            prod=_variant(requests=requests - candidate), candidate=_variant(requests=candidate)
        ),
        expected_candidate_share=share,
        share_since=START + timedelta(hours=24 - hours_at_share),
    )


def test_the_ramp_steps_up_once_the_guardrails_held_for_the_step() -> None:
    decision = decide(_at_share(0.05, hours_at_share=1.5), RAMP)
    assert decision.action == "ramp" and decision.next_share == 0.2 and not decision.final
    assert decision.reasons[0].startswith("ramp step 2 of 3: the candidate's share goes from 5%")
    assert decide(_at_share(0.2, hours_at_share=1.5), RAMP).next_share == 0.5


def test_the_ramp_holds_a_step_for_its_minimum_duration() -> None:
    decision = decide(_at_share(0.05, hours_at_share=0.5), RAMP)
    assert decision.action == "wait"
    assert any(r.startswith("ramp: 5% until the guardrails have held") for r in decision.reasons)


def test_the_ramp_waits_for_guardrails_to_be_judged_and_stops_on_a_breach() -> None:
    assert decide(_at_share(0.05, hours_at_share=2, requests=1_000), RAMP).action == "wait"
    breached = replace(
        _at_share(0.05, hours_at_share=2), candidate=_variant(requests=1_000, errors=200)
    )
    assert decide(breached, RAMP).action == "reject"


def test_the_ramp_ends_at_its_last_step_and_quality_decides_at_any_step() -> None:
    assert decide(_at_share(0.5, hours_at_share=5), RAMP).action == "wait"
    better = replace(
        _at_share(0.05, hours_at_share=5),
        paired=_pairs(3.0),
    )
    assert decide(better, RAMP).action == "promote"


def test_ramp_steps_must_be_increasing_shares() -> None:
    with pytest.raises(ValueError, match="increase"):
        Policy(ramp_steps=(0.2, 0.05))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        Policy(ramp_steps=(0.0, 0.5))
    assert RAMP.next_ramp_step(0.2) == 0.5 and RAMP.next_ramp_step(0.5) is None


# --------------------------------------------------------------------------- bad evidence


@pytest.mark.parametrize("price", [1e200, math.inf, math.nan])
def test_absurd_feedback_makes_the_policy_wait_and_alert_instead_of_overflowing(
    price: float,
) -> None:
    # Given feedback of 1e200 lakhs: |error| sums of 1e200 and a squared sum of inf, as
    # ClickHouse returns them (Python's own 1e200 ** 2 raises OverflowError)
    absurd = VariantStats(
        requests=10_000,
        errors=0,
        latency_p95_ms=100.0,
        feedback_count=1_000,
        abs_error_sum=abs(price) + 25_000,
        abs_error_sq_sum=price * price,
    )
    stats = _stats(prod=_variant(requests=40_000, feedback=4_000), candidate=absurd)
    # When it is judged (and a watch past its maximum duration even)
    late = replace(stats, now=START + timedelta(hours=400))
    for decision in (decide(stats, POLICY), decide_watch(late, POLICY)):
        # Then it waits with an evidence alert: no exception, no verdict read from it
        assert decision.action == "wait" and decision.alert_kind == "evidence"
        assert decision.reasons[0].startswith("the evidence is not finite: candidate")
        _ledger_safe(decision)
    # And an experiment past its maximum duration is still rejected: the timeout reads
    # no statistic, so evidence that cannot be read cannot keep a candidate forever
    timed_out = decide(late, POLICY)
    assert timed_out.action == "reject" and timed_out.alert_kind == "evidence"
    assert "maximum duration" in timed_out.reasons[0]
    assert timed_out.reasons[1].startswith("the evidence is not finite: candidate")
    _ledger_safe(timed_out)


# --------------------------------------------------------------------------- the watch


def _watch(previous: VariantStats, new: VariantStats, *, hours: float = 2.0) -> ExperimentStats:
    """The held-back previous best (``prod``) against the new best, at a 10% holdback."""
    return ExperimentStats(
        experiment_id="exp-1:watch-g7:v6",
        prod=previous,
        candidate=new,
        expected_candidate_share=0.1,
        started_at=START,
        now=START + timedelta(hours=hours),
        periods=(PeriodCounts(0.1, new.requests, previous.requests),),
    )


def test_watch_rolls_back_a_new_version_that_errs_more_on_the_same_traffic() -> None:
    stats = _watch(
        _variant(requests=1_000, feedback=2_000, mae=25.0),
        _variant(requests=9_000, feedback=18_000, mae=30.0),
    )
    decision = decide_watch(stats, POLICY)
    assert decision.action == "rollback" and decision.final
    assert decision.reasons[0].startswith("the new version errs more: MAE previous 25 on")
    _ledger_safe(decision)


def test_watch_rolls_back_on_a_guardrail_breach() -> None:
    stats = _watch(_variant(requests=1_000), _variant(requests=9_000, errors=500))
    decision = decide_watch(stats, POLICY)
    assert decision.action == "rollback"
    assert "the new version's error rate 5.56%" in decision.reasons[0]


def test_watch_passes_early_when_the_new_version_is_surely_better() -> None:
    stats = replace(_watch(_variant(requests=1_000), _variant(requests=9_000)), paired=_pairs(3.0))
    decision = decide_watch(stats, POLICY)
    assert decision.action == "end_watch" and decision.final
    assert decision.reasons[0].startswith("watch passed: the new version errs less")


def test_watch_waits_while_healthy_and_ends_after_its_window() -> None:
    previous = _variant(requests=1_000, feedback=5_000, mae=25.0)
    new = _variant(requests=9_000, feedback=5_000, mae=24.9)
    during = decide_watch(_watch(previous, new, hours=2), POLICY)
    over = decide_watch(_watch(previous, new, hours=25), POLICY)
    assert during.action == "wait" and not during.final
    assert over.action == "end_watch" and over.final and over.reasons[0].startswith("watch over")


def test_watch_needs_its_minimum_feedback_before_judging_mae() -> None:
    stats = _watch(
        _variant(requests=1_000, feedback=50, mae=25.0, sd=1.0),
        _variant(requests=9_000, feedback=50, mae=40.0, sd=1.0),
    )
    decision = decide_watch(stats, POLICY)
    assert decision.action == "wait" and "below the minimum sample" in decision.reasons[0]


def test_a_split_mismatch_never_blocks_a_rollback_but_blocks_an_early_pass() -> None:
    skewed = (PeriodCounts(0.1, 6_000, 4_000),)
    worse = replace(_watch(_variant(requests=4_000), _variant(requests=6_000)), paired=_pairs(-3.0))
    better = replace(worse, paired=_pairs(3.0))
    assert decide_watch(replace(worse, periods=skewed), POLICY).action == "rollback"
    blocked = decide_watch(replace(better, periods=skewed), POLICY)
    assert blocked.action == "wait" and blocked.srm_alert


# --------------------------------------------------------------------------- the file


def test_default_policy_file_states_the_code_defaults() -> None:
    assert load_policy() == Policy()
    assert load_policy(DEFAULT_POLICY_FILE).mode == "quality"


def test_policy_file_is_read_and_bad_files_are_refused_with_their_name(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text('mode = "quality"\nalpha = 0.01\nramp_steps = [0.05, 0.2]\n')
    assert load_policy(strict).alpha == 0.01 and load_policy(strict).ramp_steps == (0.05, 0.2)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("alpah = 0.01\n")
    with pytest.raises(PolicyError, match=r"unknown\.toml: alpah: Extra inputs"):
        load_policy(unknown)
    broken = tmp_path / "broken.toml"
    broken.write_text("alpha = \n")
    with pytest.raises(PolicyError, match=r"broken\.toml"):
        load_policy(broken)
    with pytest.raises(PolicyError, match=r"missing\.toml"):
        load_policy(tmp_path / "missing.toml")


def test_inconsistent_statistics_are_refused() -> None:
    with pytest.raises(ValueError, match="errors <= requests"):
        _variant(requests=10, errors=11)
    with pytest.raises(ValueError, match="share"):
        replace(_stats(), expected_candidate_share=1.5)
    with pytest.raises(ValueError, match="timezone"):
        replace(_stats(), now=datetime(2026, 1, 2))


def test_sample_sums_of_absurd_values_do_not_raise() -> None:
    # 1e200 ** 2 raises OverflowError in Python; the variance must not.
    assert not math.isfinite(SampleSums(2, 1e200, math.inf).variance)
