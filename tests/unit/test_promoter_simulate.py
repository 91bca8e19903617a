"""The policy simulation: error rates under continuous monitoring, and agreement with decide."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.simulate_command import simulate
from promoter.policy import ExperimentStats, PairedStats, Policy, VariantStats, decide
from promoter.simulate import (
    DEFAULT_BATCH,
    DEFAULT_HORIZON,
    PROMOTE,
    REJECT,
    WAIT,
    ArmSums,
    StreamModel,
    paired_verdicts,
    simulate_policy,
    simulate_quality,
    srm_flag_rate,
    unpaired_verdicts,
)

POLICY = Policy()
ACTIONS = {PROMOTE: "promote", REJECT: "reject", WAIT: "wait"}


def _run(*, improvement: float, paired: bool, seed: int) -> float:
    method = "paired" if paired else "unpaired"
    return simulate_quality(
        POLICY,
        np.random.default_rng(seed),
        experiments=500,
        improvement=improvement,
        paired=paired,
        horizon=DEFAULT_HORIZON[method],
        batch=DEFAULT_BATCH[method],
    ).promotion_rate


@pytest.mark.parametrize("paired", [False, True], ids=["unpaired", "paired"])
def test_false_promotion_rate_stays_within_alpha_under_continuous_monitoring(paired: bool) -> None:
    # 500 experiments, candidate == prod, checked after every batch up to the default
    # horizon (unpaired: 50,000 feedback events, a check every 100; paired: 1,000 pairs,
    # a check every 10).
    assert _run(improvement=0.0, paired=paired, seed=101) <= POLICY.alpha + 0.01


@pytest.mark.parametrize("paired", [False, True], ids=["unpaired", "paired"])
def test_ten_percent_better_candidate_is_promoted_in_most_runs(paired: bool) -> None:
    # The default horizons are the traffic at which this holds: 50,000 feedback events
    # over both arms at a 20% candidate share (10,000 on the candidate), or 1,000 pairs.
    assert _run(improvement=0.10, paired=paired, seed=202) >= 0.80


def test_stream_model_reproduces_the_measured_error_distribution() -> None:
    model = StreamModel()
    rng = np.random.default_rng(0)
    mu, sigma = model.lognormal()
    errors = np.exp(mu + sigma * rng.standard_normal(2_000_000))
    factor_sigma = model.paired_factor_sigma()
    candidate = errors * np.exp(
        -(factor_sigma**2) / 2 + factor_sigma * rng.standard_normal(errors.size)
    )
    assert errors.mean() == pytest.approx(25, rel=0.02)
    assert errors.std() == pytest.approx(55, rel=0.1)
    assert (errors - candidate).std() == pytest.approx(55 / 3, rel=0.1)
    assert candidate.mean() == pytest.approx(errors.mean(), rel=0.02)


def _sums(rng: np.random.Generator, size: int, *, mean: np.ndarray) -> ArmSums:
    """Sums of assorted sizes and spreads with the given means."""
    n = rng.integers(0, 3_000, size).astype(float)
    sd = rng.uniform(5, 60, size)
    return ArmSums(n, n * mean, np.maximum(n - 1, 0) * sd**2 + n * mean**2)


def _decided(
    prod: ArmSums | None, candidate: ArmSums | None, paired: ArmSums | None, i: int
) -> str:
    def variant(sums: ArmSums | None, requests: int) -> VariantStats:
        # Requests split exactly 80/20 (the plan) and past the minimum; no guardrail issue.
        n, total, sq_total = (0, 0.0, 0.0) if sums is None else _at(sums, i)
        return VariantStats(requests, 0, 100.0, n, total, sq_total)

    start = datetime(2026, 1, 1, tzinfo=UTC)
    stats = ExperimentStats(
        experiment_id="exp",
        prod=variant(prod, 40_000),
        candidate=variant(candidate, 10_000),
        expected_candidate_share=0.2,
        started_at=start,
        now=start + timedelta(hours=1),
        paired=None if paired is None else PairedStats(*_at(paired, i)),
    )
    return decide(stats, POLICY).action


def _at(sums: ArmSums, i: int) -> tuple[int, float, float]:
    return int(sums.n[i]), float(sums.total[i]), float(sums.sq_total[i])


def test_vectorised_unpaired_verdicts_agree_with_decide() -> None:
    rng = np.random.default_rng(7)
    prod = _sums(rng, 300, mean=np.full(300, 25.0))
    candidate = _sums(rng, 300, mean=rng.uniform(18, 32, 300))
    verdicts = unpaired_verdicts(prod, candidate, POLICY)
    assert set(verdicts.tolist()) == {PROMOTE, REJECT, WAIT}
    for i, verdict in enumerate(verdicts):
        assert _decided(prod, candidate, None, i) == ACTIONS[int(verdict)]


def test_vectorised_paired_verdicts_agree_with_decide() -> None:
    rng = np.random.default_rng(8)
    differences = _sums(rng, 300, mean=rng.uniform(-4, 4, 300))
    verdicts = paired_verdicts(differences, POLICY)
    assert set(verdicts.tolist()) == {PROMOTE, REJECT, WAIT}
    for i, verdict in enumerate(verdicts):
        assert _decided(None, None, differences, i) == ACTIONS[int(verdict)]


def test_split_check_catches_a_five_percent_imbalance_only_with_enough_traffic() -> None:
    def rate(requests: int, observed: float) -> float:
        return srm_flag_rate(
            np.random.default_rng(requests),
            requests=requests,
            observed_share=observed,
            expected_share=0.2,
            p_threshold=POLICY.srm_p_threshold,
            experiments=500,
        )

    assert rate(1_000, 0.21) < 0.05
    assert rate(50_000, 0.21) > 0.9
    assert rate(50_000, 0.20) < 0.01  # a correct split is almost never flagged


def test_simulation_is_deterministic_for_a_seed() -> None:
    def figures(seed: int) -> tuple[float, float, float | None]:
        result = simulate_policy(
            POLICY, seed=seed, experiments=40, paired=True, srm_requests=(5_000,)
        )
        return (
            result.false_promotion_rate,
            result.better_promotion_rate,
            result.better_median_samples,
        )

    assert figures(3) == figures(3)


def test_simulate_command_prints_the_three_figures() -> None:
    result = CliRunner().invoke(
        simulate, ["--experiments", "30", "--paired", "--srm-requests", "20000", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    for row in (
        "false promotions",
        "promotions, candidate MAE 10% lower",
        "split flagged at 20,000",
    ):
        assert row in result.output


def test_simulate_command_refuses_a_bad_policy_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("alpha = 3\n")
    result = CliRunner().invoke(simulate, ["--policy", str(bad), "--experiments", "5"])
    assert result.exit_code == 1
    assert "bad.toml: alpha" in result.output
