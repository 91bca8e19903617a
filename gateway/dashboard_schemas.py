"""The dashboard's body: the running experiment's numbers, charts and decisions."""

from typing import Literal

from pydantic import BaseModel, Field

from analysis.thresholds import SRM_ALPHA
from gateway.schemas import ExperimentOut


class VariantStatsOut(BaseModel):
    """One variant of the running experiment (v_variant_summary)."""

    variant: str
    model_versions: str
    requests: int
    errors: int
    error_rate: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    feedback: int
    mae: float | None
    mae_low: float | None = Field(description="Lower end of the MAE's 95 % interval.")
    mae_high: float | None = Field(description="Upper end of the MAE's 95 % interval.")


class MinuteOut(BaseModel):
    """Served requests of one variant in one minute (v_served_requests)."""

    minute: str
    variant: str
    requests: int
    latency_ms_p50: float | None
    latency_ms_p95: float | None


class SrmOut(BaseModel):
    """The sample-ratio-mismatch test of the running experiment (v_srm)."""

    prod_requests: int
    candidate_requests: int
    expected_candidate_share: float
    observed_candidate_share: float | None
    p_value: float | None
    mismatch: bool = Field(
        description=f"p < {SRM_ALPHA:g}: the split is broken; decisions are blocked."
    )


class DriftOut(BaseModel):
    """Population stability index of one feature for one model version (v_drift_psi)."""

    variant: str
    model_version: str
    feature: str
    requests: int
    psi: float
    level: Literal["stable", "moderate", "large"]


class DecisionOut(BaseModel):
    """One promoter ledger record, as the timeline shows it."""

    sequence: int
    occurred_at: str
    action: str
    actor: str
    reasons: list[str]
    evidence: str = Field(
        "",
        description="The MAEs the decision compared (on the same requests when paired), "
        "then their difference and its interval; empty when it compared none.",
    )
    best: str | None
    candidate: str | None


class ChartsOut(BaseModel):
    """Inline SVG charts of the numbers above (no scripts, no external resources)."""

    requests: str
    latency: str
    mae: str


class DashboardOut(BaseModel):
    generated_at: str
    experiment: ExperimentOut
    variants: list[VariantStatsOut]
    mae_interval: str = Field(description="How the MAE interval is computed.")
    minutes: list[MinuteOut]
    srm: SrmOut | None
    drift: list[DriftOut]
    decisions: list[DecisionOut] = Field(description="Promoter decisions, newest first.")
    charts: ChartsOut
    unavailable: dict[str, str] = Field(
        description="What could not be read (clickhouse, ledger) and why; empty when all was."
    )
