"""The simulations: every repeated test's false alarm rate under continuous monitoring, and
agreement of the vectorised rules with ``decide``."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.simulate_command import simulate
from promoter.decide import decide
from promoter.experiment import ExperimentStats, PairedStats, VariantStats
from promoter.false_alarms import false_alarm_table
from promoter.policy import Policy
from promoter.simulate import (
    PROMOTE,
    REJECT,
    WAIT,
    ArmSums,
    StreamModel,
    paired_verdicts,
    unpaired_verdicts,
)
from promoter.simulate_checks import LatencyModel, simulate_latency

POLICY = Policy()
ACTIONS = {PROMOTE: "promote", REJECT: "reject", WAIT: "wait"}


def test_every_repeated_test_keeps_its_false_alarm_rate_within_its_level_plus_a_point() -> None:
    # 500 null experiments per row, each looked at after every batch (continuous
    # monitoring): the split test (constant and ramped), both guardrails at exactly
    # their margins, and the MAE rule unpaired and paired.
    table = false_alarm_table(POLICY, seed=0, experiments=500)
    for row in table.rows:
        print(f"{row.test}: {row.false_alarm_rate:.1%} <= {row.bound:.1%}; power {row.power:.1%}")
        assert row.within_bound, row
    assert table.all_within_bound
    # and each finds its stated effect in most experiments
    assert min(row.power for row in table.rows) >= 0.8
    tests = [row.test for row in table.rows]
    assert tests == [
        "split (SRM)",
        "split (SRM), ramp",
        "error-rate guardrail",
        "p95 latency guardrail",
        "MAE rule, unpaired",
        "MAE rule, paired",
    ]


def test_the_latency_edge_is_exactly_the_policys_limit() -> None:
    model = LatencyModel()
    edge = model.edge_factor(POLICY)
    limit = max(model.p95_ms * 1.25, model.p95_ms + 50)
    assert model.p95_ms * edge == pytest.approx(limit)
    # a candidate twice as slow as the limit is caught quickly
    run = simulate_latency(
        POLICY,
        np.random.default_rng(0),
        experiments=50,
        factor=2 * edge,
        share=0.2,
        horizon=5_000,
        batch=500,
    )
    assert run.rate == 1.0 and run.median_requests is not None


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


def test_the_table_is_deterministic_for_a_seed() -> None:
    def rates(seed: int) -> list[tuple[float, float]]:
        table = false_alarm_table(POLICY, seed=seed, experiments=30)
        return [(row.false_alarm_rate, row.power) for row in table.rows]

    assert rates(3) == rates(3)


def test_simulate_command_prints_the_table() -> None:
    result = CliRunner().invoke(simulate, ["--experiments", "40", "--seed", "1"])
    assert result.exit_code == 0, result.output
    for row in ("split (SRM)", "error-rate guardrail", "p95 latency guardrail", "MAE rule, paired"):
        assert row in result.output
    assert "false alarms" in result.output and "power" in result.output


def test_simulate_command_refuses_a_bad_policy_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("alpha = 3\n")
    result = CliRunner().invoke(simulate, ["--policy", str(bad), "--experiments", "5"])
    assert result.exit_code == 1
    assert "bad.toml: alpha" in result.output
