"""The table `splitstream simulate` prints: each repeated test's false alarm rate and power.

Every test the promoter repeats at each evaluation is run here on many simulated
experiments under continuous monitoring (a look after every batch, as the promoter looks
every evaluation interval): with no effect (the false alarm rate, which must stay within
its level plus one point) and with a stated effect (the power). Deterministic for a seed:
each row draws from its own child of it.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from promoter.policy import Policy
from promoter.simulate import DEFAULT_BATCH, DEFAULT_HORIZON, simulate_quality
from promoter.simulate_checks import (
    FlagRun,
    LatencyModel,
    simulate_error_rate,
    simulate_latency,
    simulate_split,
)

#: A row passes when its false alarm rate is at most its level plus this (one point).
TOLERANCE = 0.01
SHARE = 0.2
RAMP = ((0.05, 10_000), (0.2, 10_000), (0.5, 10_000))


@dataclass(frozen=True)
class TestRow:
    """One repeated test: its level, the false alarms without an effect, the power with one."""

    test: str
    level: float
    looks: str
    null: str
    false_alarm_rate: float
    effect: str
    power: float
    median_to_detect: float | None
    unit: str

    @property
    def bound(self) -> float:
        return self.level + TOLERANCE

    @property
    def within_bound(self) -> bool:
        return self.false_alarm_rate <= self.bound


@dataclass(frozen=True)
class FalseAlarmTable:
    seed: int
    experiments: int
    rows: tuple[TestRow, ...]

    @property
    def all_within_bound(self) -> bool:
        return all(row.within_bound for row in self.rows)


def false_alarm_table(policy: Policy, *, seed: int = 0, experiments: int = 500) -> FalseAlarmTable:
    """Simulate every repeated test of the policy, with and without an effect."""
    rngs = iter(np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(20))
    rows = (
        *_split_rows(policy, rngs, experiments),
        _error_rate_row(policy, rngs, experiments),
        _latency_row(policy, rngs, experiments),
        *_mae_rows(policy, rngs, experiments),
    )
    return FalseAlarmTable(seed, experiments, rows)


def _split_rows(
    policy: Policy, rngs: Iterator[np.random.Generator], experiments: int
) -> list[TestRow]:
    batch, horizon = 100, 50_000
    looks = f"every {batch} requests up to {horizon:,}"
    constant = simulate_split(
        policy, next(rngs), experiments=experiments, periods=[(SHARE, SHARE, horizon)], batch=batch
    )
    off = simulate_split(
        policy, next(rngs), experiments=experiments, periods=[(SHARE, 0.21, horizon)], batch=batch
    )
    ramp = [(share, share, requests) for share, requests in RAMP]
    ramp_off = [(share, share * 1.1, requests) for share, requests in RAMP]
    ramped = simulate_split(policy, next(rngs), experiments=experiments, periods=ramp, batch=batch)
    ramped_off = simulate_split(
        policy, next(rngs), experiments=experiments, periods=ramp_off, batch=batch
    )
    steps = " -> ".join(f"{share:.0%}" for share, _ in RAMP)
    return [
        TestRow(
            "split (SRM)",
            policy.srm_p_threshold,
            looks,
            f"routed at the planned {SHARE:.0%}",
            constant.rate,
            f"routed at 21% against a planned {SHARE:.0%}",
            off.rate,
            off.median_requests,
            "requests",
        ),
        TestRow(
            "split (SRM), ramp",
            policy.srm_p_threshold,
            f"every {batch} requests, {RAMP[0][1]:,} per step",
            f"ramp {steps}, each step at its plan",
            ramped.rate,
            "each step routed 10% above its plan",
            ramped_off.rate,
            ramped_off.median_requests,
            "requests",
        ),
    ]


def _error_rate_row(
    policy: Policy, rngs: Iterator[np.random.Generator], experiments: int
) -> TestRow:
    batch, horizon, prod = 100, 50_000, 0.01
    edge = prod + policy.error_rate_margin
    worse = edge + 0.02

    def run(candidate_rate: float) -> FlagRun:
        return simulate_error_rate(
            policy,
            next(rngs),
            experiments=experiments,
            prod_rate=prod,
            candidate_rate=candidate_rate,
            share=SHARE,
            horizon=horizon,
            batch=batch,
        )

    null, effect = run(edge), run(worse)
    return TestRow(
        "error-rate guardrail",
        policy.guardrail_alpha,
        f"every {batch} requests up to {horizon:,}",
        f"candidate {edge:.0%} vs prod {prod:.0%}: exactly the margin",
        null.rate,
        f"candidate {worse:.0%} vs prod {prod:.0%}",
        effect.rate,
        effect.median_requests,
        "requests",
    )


def _latency_row(policy: Policy, rngs: Iterator[np.random.Generator], experiments: int) -> TestRow:
    batch, horizon = 250, 10_000
    model = LatencyModel()
    edge = model.edge_factor(policy)

    def run(factor: float) -> FlagRun:
        return simulate_latency(
            policy,
            next(rngs),
            experiments=experiments,
            factor=factor,
            share=SHARE,
            horizon=horizon,
            batch=batch,
            model=model,
        )

    null, effect = run(edge), run(edge * 1.5)
    return TestRow(
        "p95 latency guardrail",
        policy.guardrail_alpha,
        f"every {batch} requests up to {horizon:,}",
        f"candidate p95 {model.p95_ms * edge:.0f} ms vs prod {model.p95_ms:.0f} ms: "
        "exactly the margins",
        null.rate,
        f"candidate p95 {model.p95_ms * edge * 1.5:.0f} ms (50% over the limit)",
        effect.rate,
        effect.median_requests,
        "requests",
    )


def _mae_rows(
    policy: Policy, rngs: Iterator[np.random.Generator], experiments: int
) -> list[TestRow]:
    rows = []
    for method in ("unpaired", "paired"):
        paired = method == "paired"
        horizon, batch = DEFAULT_HORIZON[method], DEFAULT_BATCH[method]
        runs = [
            simulate_quality(
                policy,
                next(rngs),
                experiments=experiments,
                improvement=improvement,
                paired=paired,
                horizon=horizon,
                batch=batch,
                candidate_share=SHARE,
            )
            for improvement in (0.0, 0.10)
        ]
        unit = "pairs" if paired else "feedback events"
        rows.append(
            TestRow(
                f"MAE rule, {method}",
                policy.alpha,
                f"every {batch} {unit} up to {horizon:,}",
                f"candidate MAE = prod's (false promotions {runs[0].promotion_rate:.1%})",
                runs[0].decision_rate,
                "candidate MAE 10% lower, promoted",
                runs[1].promotion_rate,
                runs[1].median_samples_to_promotion,
                unit,
            )
        )
    return rows
