"""What the dashboard shows, from the analysis views' rows and ledger records: pure
conversions into the API's models.

The rows are read and typed by the ``analysis`` package. The MAE interval is a
fixed-sample 95 % normal approximation from the summary's MAE, RMSE and feedback count,
for people to read; the promoter decides with its own anytime-valid test, not with this.
"""

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from analysis import rows as view_rows
from analysis.cells import count, number
from analysis.intervals import mae_interval
from analysis.rows import Row, VariantStats
from analysis.thresholds import VARIANTS
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

MAE_INTERVAL = "95 % normal approximation (fixed sample), from MAE, RMSE and feedback count"
#: The timeline shows this many of the newest decisions ("wait" evaluations left out).
TIMELINE_LENGTH = 40
#: The live series covers this many of the latest minutes that had traffic.
SERIES_MINUTES = 60


def variant_out(stats: VariantStats) -> VariantStatsOut:
    """One variant's summary with its MAE interval (None where there is no data)."""
    low, high = mae_interval(mae=stats.mae, rmse=stats.rmse, feedback=stats.feedback)
    return VariantStatsOut(
        variant=stats.variant,
        model_versions=stats.model_versions,
        requests=stats.requests,
        errors=stats.errors,
        error_rate=stats.error_rate,
        latency_ms_p50=stats.latency_ms_p50,
        latency_ms_p95=stats.latency_ms_p95,
        feedback=stats.feedback,
        mae=stats.mae,
        mae_low=low,
        mae_high=high,
    )


def sorted_variants(rows: Sequence[Row]) -> list[VariantStatsOut]:
    """v_variant_summary rows, prod first, then the candidate, then anything else."""
    return [variant_out(stats) for stats in view_rows.sorted_variant_stats(rows)]


def minute_rows(rows: Sequence[Row]) -> list[MinuteOut]:
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


def srm_result(row: Row) -> SrmOut:
    """One v_srm row; a NULL p-value (no split to test) is never a mismatch."""
    test = view_rows.srm_result(row)
    return SrmOut(
        prod_requests=test.prod_requests,
        candidate_requests=test.candidate_requests,
        expected_candidate_share=test.expected_candidate_share,
        observed_candidate_share=test.observed_candidate_share,
        p_value=test.p_value,
        mismatch=test.mismatch,
    )


def drift_rows(rows: Sequence[Row]) -> list[DriftOut]:
    """v_drift_psi rows, prod first, then by model version and feature."""
    return [DriftOut(**asdict(d)) for d in view_rows.drift_rows(rows)]


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
