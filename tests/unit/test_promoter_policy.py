"""The promotion policy, rule by rule, on hand-built statistics."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from promoter.policy import (
    DEFAULT_POLICY_FILE,
    Decision,
    ExperimentStats,
    PairedStats,
    Policy,
    PolicyError,
    VariantStats,
    decide,
    decide_watch,
    load_policy,
)

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
) -> VariantStats:
    """A variant whose absolute errors have exactly this count, mean and sample sd."""
    return VariantStats(
        requests=requests,
        errors=errors,
        latency_p95_ms=p95_ms,
        feedback_count=feedback,
        abs_error_sum=feedback * mae,
        abs_error_sq_sum=max(feedback - 1, 0) * sd**2 + feedback * mae**2,
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


def _pairs(mean_diff: float, *, n: int = 2_000, sd: float = 18.0) -> PairedStats:
    return PairedStats(n=n, diff_sum=n * mean_diff, diff_sq_sum=(n - 1) * sd**2 + n * mean_diff**2)


def _ledger_safe(decision: Decision) -> None:
    json.dumps(
        {"statistics": decision.statistics, "thresholds": decision.thresholds}, allow_nan=False
    )


def test_clearly_better_candidate_is_promoted_with_its_interval_in_the_reasons() -> None:
    decision = decide(_feedback(25.0, 20.0), POLICY)
    assert decision.action == "promote" and decision.final and not decision.srm_alert
    assert "confidence sequence" in decision.reasons[0]
    assert decision.statistics["mae"]["upper"] < 0
    assert decision.statistics["mae"]["method"] == "unpaired"
    assert decision.thresholds["alpha"] == 0.05
    _ledger_safe(decision)


def test_clearly_worse_candidate_is_rejected() -> None:
    decision = decide(_feedback(25.0, 30.0), POLICY)
    assert decision.action == "reject"
    assert decision.statistics["mae"]["lower"] > 0


def test_inconclusive_evidence_waits_and_says_the_interval_contains_zero() -> None:
    decision = decide(_feedback(25.0, 24.8), POLICY)
    assert decision.action == "wait" and not decision.final
    assert "no significant MAE difference" in decision.reasons[0]
    mae = decision.statistics["mae"]
    assert mae["lower"] < 0 < mae["upper"]


def test_sample_ratio_mismatch_blocks_even_a_clear_promotion_and_alerts() -> None:
    # Given a clearly better candidate that got 23% of traffic against a planned 20%
    stats = replace(
        _feedback(25.0, 20.0),
        prod=_variant(requests=38_500, feedback=80_000, mae=25.0),
        candidate=_variant(requests=11_500, feedback=20_000, mae=20.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait" and decision.srm_alert
    assert decision.statistics["srm_p_value"] < 0.001
    assert "sample-ratio mismatch" in decision.reasons[0] and "0.001" in decision.reasons[0]
    _ledger_safe(decision)


def test_candidate_error_rate_above_the_margin_is_rejected() -> None:
    stats = replace(
        _feedback(25.0, 20.0),
        candidate=_variant(requests=10_000, errors=300, feedback=20_000, mae=20.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "reject"
    assert "error rate 3.00%" in decision.reasons[0] and "1.00%" in decision.reasons[0]


def test_candidate_p95_latency_above_the_margin_is_rejected() -> None:
    stats = replace(
        _feedback(25.0, 20.0),
        candidate=_variant(requests=10_000, p95_ms=160.0, feedback=20_000, mae=20.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "reject"
    assert "p95 latency 160.0 ms" in decision.reasons[0]


def test_a_p95_latency_excess_within_the_absolute_margin_is_noise() -> None:
    # 30 ms over prod's 100 ms: above 25 %, below the 50 ms absolute margin
    stats = replace(
        _feedback(25.0, 20.0),
        candidate=_variant(requests=10_000, p95_ms=130.0, feedback=20_000, mae=20.0),
    )
    assert decide(stats, POLICY).action == "promote"


def test_guardrails_wait_for_the_minimum_requests() -> None:
    # Given a terrible error rate on only 100 candidate requests (minimum 200)
    stats = _stats(
        prod=_variant(requests=400), candidate=_variant(requests=100, errors=50, p95_ms=900.0)
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait"
    assert any("guardrails not judged yet" in reason for reason in decision.reasons)


def test_without_any_feedback_the_policy_waits() -> None:
    decision = decide(_stats(), POLICY)
    assert decision.action == "wait"
    assert decision.reasons[0].startswith("no feedback yet")


def test_below_the_minimum_feedback_a_striking_difference_still_waits() -> None:
    stats = _stats(
        prod=_variant(requests=40_000, feedback=400, mae=25.0, sd=5.0),
        candidate=_variant(requests=10_000, feedback=50, mae=10.0, sd=5.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait"
    assert "below the minimum sample" in decision.reasons[0] and "100" in decision.reasons[0]


def test_below_the_minimum_requests_the_policy_waits() -> None:
    stats = _stats(
        prod=_variant(requests=600, feedback=600, mae=25.0, sd=5.0),
        candidate=_variant(requests=150, feedback=150, mae=10.0, sd=5.0),
    )
    decision = decide(stats, POLICY)
    assert decision.action == "wait"
    assert "150 requests" in decision.reasons[0] and "200" in decision.reasons[0]


def test_undecided_experiment_is_rejected_after_the_maximum_duration() -> None:
    before = decide(replace(_feedback(25.0, 24.8), now=START + timedelta(hours=335)), POLICY)
    after = decide(replace(_feedback(25.0, 24.8), now=START + timedelta(hours=337)), POLICY)
    assert before.action == "wait"
    assert after.action == "reject" and "maximum duration of 336 h" in after.reasons[0]


def test_paired_differences_decide_where_unpaired_evidence_cannot() -> None:
    # Given an inconclusive unpaired comparison and shadow pairs favouring the candidate
    stats = replace(_feedback(25.0, 24.0, n=500), paired=_pairs(2.5))
    assert decide(replace(stats, paired=None), POLICY).action == "wait"
    decision = decide(stats, POLICY)
    assert decision.action == "promote"
    assert decision.statistics["mae"]["method"] == "paired"
    assert decision.statistics["mae"]["difference"] == pytest.approx(-2.5)
    unpaired = decide(stats, POLICY.model_copy(update={"prefer_paired": False}))
    assert unpaired.action == "wait" and unpaired.statistics["mae"]["method"] == "unpaired"


def test_paired_mode_without_pairs_waits_for_them() -> None:
    decision = decide(replace(_feedback(25.0, 20.0), paired=PairedStats(0, 0.0, 0.0)), POLICY)
    assert decision.action == "wait" and "paired" in decision.reasons[0]


def test_volume_mode_promotes_on_the_old_stacks_request_count_without_feedback() -> None:
    volume = POLICY.model_copy(update={"mode": "volume"})
    few = _stats(prod=_variant(requests=400), candidate=_variant(requests=99))
    enough = _stats(prod=_variant(requests=400), candidate=_variant(requests=100))
    assert decide(few, volume).action == "wait"
    decision = decide(enough, volume)
    assert decision.action == "promote" and "100" in decision.reasons[0]


def test_volume_mode_still_applies_guardrails_at_the_trigger() -> None:
    volume = POLICY.model_copy(update={"mode": "volume"})
    stats = _stats(prod=_variant(requests=400), candidate=_variant(requests=100, errors=10))
    assert decide(stats, volume).action == "reject"


def _watch(previous: VariantStats, new: VariantStats, *, hours: float = 2.0) -> ExperimentStats:
    # evidence.watch_stats passes a share of 0: the watch compares versions, not a split.
    return ExperimentStats(
        experiment_id="watch:v7",
        prod=previous,
        candidate=new,
        expected_candidate_share=0.0,
        started_at=START,
        now=START + timedelta(hours=hours),
    )


def test_watch_rolls_back_a_new_version_that_errs_more() -> None:
    stats = _watch(_variant(feedback=20_000, mae=25.0), _variant(feedback=20_000, mae=30.0))
    decision = decide_watch(stats, POLICY)
    assert decision.action == "rollback" and decision.final
    assert decision.reasons[0].startswith("the new version errs more")
    _ledger_safe(decision)


def test_watch_rolls_back_on_a_guardrail_breach() -> None:
    stats = _watch(_variant(feedback=0), _variant(errors=500, feedback=0))
    decision = decide_watch(stats, POLICY)
    assert decision.action == "rollback"
    assert "the new version's error rate 5.00%" in decision.reasons[0]


def test_watch_waits_while_healthy_and_closes_after_its_window() -> None:
    previous, new = _variant(feedback=5_000, mae=25.0), _variant(feedback=5_000, mae=24.0)
    during = decide_watch(_watch(previous, new, hours=2), POLICY)
    over = decide_watch(_watch(previous, new, hours=25), POLICY)
    assert during.action == "wait" and not during.final
    assert over.action == "wait" and over.final and over.reasons[0].startswith("watch over")


def test_watch_needs_its_minimum_feedback_before_judging_mae() -> None:
    stats = _watch(_variant(feedback=50, mae=25.0, sd=1.0), _variant(feedback=50, mae=40.0, sd=1.0))
    decision = decide_watch(stats, POLICY)
    assert decision.action == "wait" and "below the minimum sample" in decision.reasons[0]


def test_default_policy_file_states_the_code_defaults() -> None:
    assert load_policy() == Policy()
    assert load_policy(DEFAULT_POLICY_FILE).mode == "quality"


def test_policy_file_is_read_and_bad_files_are_refused_with_their_name(tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text('mode = "quality"\nalpha = 0.01\n')
    assert load_policy(strict).alpha == 0.01
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
