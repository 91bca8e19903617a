"""Rows of the analysis views as typed values: one variant's traffic, the split test, drift.

A view row is a dict of its columns (``DataFrame.to_dict("records")``); NULL means no data
(no feedback yet, no split to test), never zero errors or a perfect model.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from analysis.cells import count, number
from analysis.thresholds import PsiLevel, psi_level, srm_mismatch, variant_rank

Row = Mapping[str, Any]


@dataclass(frozen=True)
class VariantStats:
    """One variant's served traffic (v_variant_summary)."""

    variant: str
    model_versions: str
    requests: int
    errors: int
    timeouts: int
    error_rate: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_p99: float | None
    feedback: int
    mae: float | None
    rmse: float | None
    abs_error_sum: float
    abs_error_sq_sum: float


@dataclass(frozen=True)
class SrmResult:
    """The sample-ratio-mismatch test (v_srm); ``mismatch`` when p < ``SRM_ALPHA``."""

    prod_requests: int
    candidate_requests: int
    expected_candidate_share: float
    observed_candidate_share: float | None
    chi2: float | None
    p_value: float | None
    mismatch: bool


@dataclass(frozen=True)
class DriftRow:
    """PSI of one feature of one variant's traffic against its model's training data."""

    variant: str
    model_version: str
    feature: str
    requests: int
    psi: float
    level: PsiLevel


def variant_stats(row: Row) -> VariantStats:
    """One v_variant_summary row as numbers (NULL means no data, e.g. no feedback yet)."""
    return VariantStats(
        variant=str(row["variant"]),
        model_versions=str(row["model_versions"] or ""),
        requests=count(row["requests"]),
        errors=count(row["errors"]),
        timeouts=count(row["timeouts"]),
        error_rate=number(row["error_rate"]) or 0.0,
        latency_ms_p50=number(row["latency_ms_p50"]),
        latency_ms_p95=number(row["latency_ms_p95"]),
        latency_ms_p99=number(row["latency_ms_p99"]),
        feedback=count(row["feedback"]),
        mae=number(row["mae"]),
        rmse=number(row["rmse"]),
        abs_error_sum=number(row["abs_error_sum"]) or 0.0,
        abs_error_sq_sum=number(row["abs_error_sq_sum"]) or 0.0,
    )


def sorted_variant_stats(rows: Iterable[Row]) -> list[VariantStats]:
    """v_variant_summary rows, prod first, then the candidate, then anything else."""
    return sorted((variant_stats(r) for r in rows), key=lambda v: variant_rank(v.variant))


def srm_result(row: Row) -> SrmResult:
    """One v_srm row; a NULL p-value (no split to test) is never a mismatch."""
    p_value = number(row["p_value"])
    return SrmResult(
        prod_requests=count(row["prod_requests"]),
        candidate_requests=count(row["candidate_requests"]),
        expected_candidate_share=number(row["expected_candidate_share"]) or 0.0,
        observed_candidate_share=number(row["observed_candidate_share"]),
        chi2=number(row["chi2"]),
        p_value=p_value,
        mismatch=srm_mismatch(p_value),
    )


def drift_rows(rows: Iterable[Row]) -> list[DriftRow]:
    """v_drift_psi rows, prod first, then by model version and feature."""
    drift = [
        DriftRow(
            variant=str(r["variant"]),
            model_version=str(r["model_version"]),
            feature=str(r["feature"]),
            requests=count(r["requests"]),
            psi=number(r["psi"]) or 0.0,
            level=psi_level(number(r["psi"]) or 0.0),
        )
        for r in rows
    ]
    return sorted(drift, key=lambda d: (variant_rank(d.variant), d.model_version, d.feature))
