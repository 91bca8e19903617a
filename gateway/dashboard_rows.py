"""What the dashboard shows, from ClickHouse rows and ledger records: pure conversions.

The MAE interval is a fixed-sample 95 % normal approximation from the summary's MAE, RMSE
and feedback count, for people to read; the promoter decides with its own anytime-valid
test, not with this.
"""

import math
from collections.abc import Sequence
from typing import Any, Literal

from clients.ledger_evidence import evidence_line
from gateway.dashboard_schemas import (
    ChartsOut,
    DecisionOut,
    DriftOut,
    MinuteOut,
    SrmOut,
    VariantStatsOut,
)
from gateway.web.charts import Estimate, Line, colour_of, interval_chart, line_chart
from schemas.decision_events import LedgerRecord

VARIANTS = ("prod", "candidate")
MAE_INTERVAL = "95 % normal approximation (fixed sample), from MAE, RMSE and feedback count"
Z_95 = 1.959963984540054
#: A sample-ratio mismatch below this p-value blocks every decision (DESIGN.md).
SRM_ALPHA = 0.001
#: PSI rule of thumb: below 0.1 stable, up to 0.25 moderate, above that a large shift.
PSI_MODERATE = 0.1
PSI_LARGE = 0.25
#: The timeline shows this many of the newest decisions ("wait" evaluations left out).
TIMELINE_LENGTH = 40
#: The live series covers this many of the latest minutes that had traffic.
SERIES_MINUTES = 60


def number(value: Any) -> float | None:
    """A float, or None for NULL/NaN."""
    if value is None:
        return None
    result = float(value)
    return None if math.isnan(result) else result


def count(value: Any) -> int:
    return int(number(value) or 0)


def mae_interval(
    *, mae: float | None, rmse: float | None, feedback: int
) -> tuple[float | None, float | None]:
    """95 % normal interval of the MAE; (None, None) under two feedbacks.

    The absolute errors' sample variance is (mean square - mean²) · n / (n - 1), and the
    mean square is RMSE².
    """
    if mae is None or rmse is None or feedback < 2:
        return None, None
    variance = max(rmse * rmse - mae * mae, 0.0) * feedback / (feedback - 1)
    half = Z_95 * math.sqrt(variance / feedback)
    return max(mae - half, 0.0), mae + half


def variant_stats(row: dict[str, Any]) -> VariantStatsOut:
    """One v_variant_summary row (NULL means no data, e.g. no feedback yet)."""
    mae, rmse, feedback = number(row["mae"]), number(row["rmse"]), count(row["feedback"])
    low, high = mae_interval(mae=mae, rmse=rmse, feedback=feedback)
    return VariantStatsOut(
        variant=str(row["variant"]),
        model_versions=str(row["model_versions"] or ""),
        requests=count(row["requests"]),
        errors=count(row["errors"]),
        error_rate=number(row["error_rate"]) or 0.0,
        latency_ms_p50=number(row["latency_ms_p50"]),
        latency_ms_p95=number(row["latency_ms_p95"]),
        feedback=feedback,
        mae=mae,
        mae_low=low,
        mae_high=high,
    )


def sorted_variants(rows: list[dict[str, Any]]) -> list[VariantStatsOut]:
    """Prod first, then the candidate, then anything else."""
    order = {name: i for i, name in enumerate(VARIANTS)}
    return sorted((variant_stats(r) for r in rows), key=lambda v: order.get(v.variant, 9))


def minute_rows(rows: list[dict[str, Any]]) -> list[MinuteOut]:
    """Per-minute rows (any order) as ISO minutes, oldest first."""
    minutes = [
        MinuteOut(
            minute=_iso_minute(r["minute"]),
            variant=str(r["variant"]),
            requests=count(r["requests"]),
            latency_ms_p50=number(r["latency_ms_p50"]),
            latency_ms_p95=number(r["latency_ms_p95"]),
        )
        for r in rows
    ]
    return sorted(minutes, key=lambda m: (m.minute, m.variant))


def _iso_minute(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text[:16]  # YYYY-MM-DDTHH:MM, the minute in UTC


def srm_result(row: dict[str, Any]) -> SrmOut:
    """One v_srm row; a NULL p-value (no split to test) is never a mismatch."""
    p_value = number(row["p_value"])
    return SrmOut(
        prod_requests=count(row["prod_requests"]),
        candidate_requests=count(row["candidate_requests"]),
        expected_candidate_share=number(row["expected_candidate_share"]) or 0.0,
        observed_candidate_share=number(row["observed_candidate_share"]),
        p_value=p_value,
        mismatch=p_value is not None and p_value < SRM_ALPHA,
    )


def psi_level(psi: float) -> Literal["stable", "moderate", "large"]:
    if psi > PSI_LARGE:
        return "large"
    return "moderate" if psi >= PSI_MODERATE else "stable"


def drift_rows(rows: list[dict[str, Any]]) -> list[DriftOut]:
    """v_drift_psi rows, prod first, then by model version and feature."""
    drift = [
        DriftOut(
            variant=str(r["variant"]),
            model_version=str(r["model_version"]),
            feature=str(r["feature"]),
            requests=count(r["requests"]),
            psi=number(r["psi"]) or 0.0,
            level=psi_level(number(r["psi"]) or 0.0),
        )
        for r in rows
    ]
    order = {name: i for i, name in enumerate(VARIANTS)}
    return sorted(drift, key=lambda d: (order.get(d.variant, 9), d.model_version, d.feature))


def _reasons(record: LedgerRecord) -> list[str]:
    """The record's reasons, then the operator's own words when a command gave some."""
    given = record.inputs.get("reason")
    extra = [given] if isinstance(given, str) and given not in record.reasons else []
    return [*record.reasons, *extra]


def decisions(records: Sequence[LedgerRecord]) -> list[DecisionOut]:
    """The newest decisions first; "wait" evaluations are left out (they change nothing)."""
    shown = [r for r in records if r.action != "wait"][-TIMELINE_LENGTH:]
    return [
        DecisionOut(
            sequence=r.sequence,
            occurred_at=r.occurred_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            action=r.action,
            actor=f"{r.actor.kind}: {r.actor.name}",
            reasons=_reasons(r),
            evidence=evidence_line(r.statistics),
            best=r.slots_after.best,
            candidate=r.slots_after.candidate,
        )
        for r in reversed(shown)
    ]


def charts(variants: Sequence[VariantStatsOut], minutes: Sequence[MinuteOut]) -> ChartsOut:
    """The three charts the page draws: requests and latency per minute, MAE with interval."""
    labels = sorted({m.minute for m in minutes})
    names = [v for v in VARIANTS if any(m.variant == v for m in minutes)]
    by_key = {(m.minute, m.variant): m for m in minutes}

    def series(variant: str, field: str) -> list[float | None]:
        found = [by_key.get((label, variant)) for label in labels]
        return [getattr(m, field) if m else None for m in found]

    requests = [
        Line(name, [v or 0.0 for v in series(name, "requests")], colour_of(name)) for name in names
    ]
    latency = [
        Line(f"{name} p{q}", series(name, f"latency_ms_p{q}"), colour_of(name), dashed=q == 95)
        for name in names
        for q in (50, 95)
    ]
    estimates = [
        Estimate(v.variant, v.mae, v.mae_low, v.mae_high, colour_of(v.variant))
        for v in variants
        if v.mae is not None
    ]
    short = [label[11:] for label in labels]  # HH:MM
    return ChartsOut(
        requests=line_chart(
            title="Requests per minute", x_labels=short, lines=requests, unit="req"
        ),
        latency=line_chart(
            title="Latency p50 / p95 per minute", x_labels=short, lines=latency, unit="ms"
        ),
        mae=interval_chart(title="MAE with 95 % interval", estimates=estimates, unit="lakhs"),
    )
