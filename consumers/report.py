"""The A/B report: read the analysis views, and summarise prod against the candidate.

Everything is read through ``ClickHouse.query_df`` (chDB in this process, the sink over
HTTP, or a server), so the report works wherever ClickHouse runs. ``build_report`` is a
pure function of the views' rows; charts are drawn by ``consumers.report_charts``.
The MAE interval here is a fixed-sample 95 % normal interval for people to read; the
promoter decides with its own anytime-valid test, not with this. The decisions it took
about the experiment come from the ledger table, each with the MAEs it compared (both on
the same requests when paired), the difference and its anytime-valid interval.
"""

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from clients.ledger_evidence import evidence_line
from plumbing.clickhouse import ClickHouse

VARIANTS = ("prod", "candidate")
#: A sample-ratio mismatch below this p-value blocks every decision (DESIGN.md).
SRM_ALPHA = 0.001
#: PSI rule of thumb: below 0.1 stable, up to 0.25 moderate, above that a large shift.
PSI_MODERATE = 0.1
PSI_LARGE = 0.25
Z_95 = 1.959963984540054
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HOURLY_COLUMNS = ("requests", "errors", "error_rate", "latency_ms_p95", "feedback", "mae")


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
class Interval:
    """An estimate with a 95 % interval."""

    estimate: float
    low: float
    high: float


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
class PairedResult:
    """|prod error| - |candidate error| on shadow-scored requests (v_paired).

    Positive: the candidate was closer. ``mae_prod`` and ``mae_candidate`` are both
    models' MAEs on those same requests: their difference is minus ``diff_mean``.
    """

    pairs: int
    diff_mean: float
    diff_sd: float | None
    interval: Interval | None
    mae_prod: float | None = None
    mae_candidate: float | None = None


@dataclass(frozen=True)
class DecisionRow:
    """One promoter decision about the experiment (the ledger table), with its evidence."""

    sequence: int
    occurred_at: str
    action: str
    actor: str
    reasons: tuple[str, ...]
    evidence: str


@dataclass(frozen=True)
class DriftRow:
    """PSI of one feature of one variant's traffic against its model's training data."""

    variant: str
    model_version: str
    feature: str
    requests: int
    psi: float
    level: str


@dataclass(frozen=True)
class ABReport:
    """The A/B summary of one experiment."""

    experiment_id: str
    variants: tuple[VariantStats, ...]
    mae_difference: Interval | None  # candidate MAE - prod MAE
    srm: SrmResult | None
    paired: PairedResult | None
    drift: tuple[DriftRow, ...]
    hourly: pd.DataFrame = field(compare=False, repr=False)
    decisions: tuple[DecisionRow, ...] = ()

    def variant(self, name: str) -> VariantStats | None:
        return next((v for v in self.variants if v.variant == name), None)


# --------------------------------------------------------------------------- pure summary


def number(value: Any) -> float | None:
    """A float, or None for SQL NULL / NaN / NA."""
    if value is None or value is pd.NA:
        return None
    result = float(value)
    return None if math.isnan(result) else result


def _count(value: Any) -> int:
    return int(number(value) or 0)


def variant_stats(row: dict[str, Any]) -> VariantStats:
    """One v_variant_summary row as numbers (NULL means no data, e.g. no feedback yet)."""
    return VariantStats(
        variant=str(row["variant"]),
        model_versions=str(row["model_versions"] or ""),
        requests=_count(row["requests"]),
        errors=_count(row["errors"]),
        timeouts=_count(row["timeouts"]),
        error_rate=number(row["error_rate"]) or 0.0,
        latency_ms_p50=number(row["latency_ms_p50"]),
        latency_ms_p95=number(row["latency_ms_p95"]),
        latency_ms_p99=number(row["latency_ms_p99"]),
        feedback=_count(row["feedback"]),
        mae=number(row["mae"]),
        rmse=number(row["rmse"]),
        abs_error_sum=number(row["abs_error_sum"]) or 0.0,
        abs_error_sq_sum=number(row["abs_error_sq_sum"]) or 0.0,
    )


def _mean_and_variance(n: int, total: float, square_total: float) -> tuple[float, float]:
    mean = total / n
    variance = max(0.0, (square_total - n * mean * mean) / (n - 1))
    return mean, variance


def mae_difference(prod: VariantStats, candidate: VariantStats) -> Interval | None:
    """Candidate MAE - prod MAE, with a normal 95 % interval; None under 2 feedbacks per arm."""
    if prod.feedback < 2 or candidate.feedback < 2:
        return None
    prod_mean, prod_var = _mean_and_variance(
        prod.feedback, prod.abs_error_sum, prod.abs_error_sq_sum
    )
    cand_mean, cand_var = _mean_and_variance(
        candidate.feedback, candidate.abs_error_sum, candidate.abs_error_sq_sum
    )
    estimate = cand_mean - prod_mean
    half = Z_95 * math.sqrt(prod_var / prod.feedback + cand_var / candidate.feedback)
    return Interval(estimate, estimate - half, estimate + half)


def srm_result(row: dict[str, Any]) -> SrmResult:
    """One v_srm row; a NULL p-value (no split to test) is never a mismatch."""
    p_value = number(row["p_value"])
    return SrmResult(
        prod_requests=_count(row["prod_requests"]),
        candidate_requests=_count(row["candidate_requests"]),
        expected_candidate_share=number(row["expected_candidate_share"]) or 0.0,
        observed_candidate_share=number(row["observed_candidate_share"]),
        chi2=number(row["chi2"]),
        p_value=p_value,
        mismatch=p_value is not None and p_value < SRM_ALPHA,
    )


def paired_result(row: dict[str, Any]) -> PairedResult | None:
    """Mean paired difference with a normal 95 % interval (from 2 pairs on), and both MAEs
    on the same pairs; None without pairs."""
    pairs = _count(row["pairs"])
    if pairs == 0:
        return None
    total, square_total = number(row["diff_sum"]) or 0.0, number(row["diff_sq_sum"]) or 0.0
    maes = {
        name: (
            None if (value := number(row.get(f"{name}_abs_error_sum"))) is None else value / pairs
        )
        for name in ("prod", "candidate")
    }
    if pairs < 2:
        return PairedResult(pairs, total, None, None, maes["prod"], maes["candidate"])
    mean, variance = _mean_and_variance(pairs, total, square_total)
    half = Z_95 * math.sqrt(variance / pairs)
    interval = Interval(mean, mean - half, mean + half)
    return PairedResult(pairs, mean, math.sqrt(variance), interval, maes["prod"], maes["candidate"])


def decision_rows(frame: pd.DataFrame) -> tuple[DecisionRow, ...]:
    """Ledger table rows of one experiment, in sequence order, "wait" evaluations left out."""
    rows = []
    for r in frame.sort_values("sequence").to_dict("records"):
        if r["action"] == "wait":
            continue
        statistics = _json_object(r.get("statistics"))
        rows.append(
            DecisionRow(
                sequence=int(r["sequence"]),
                occurred_at=pd.Timestamp(r["occurred_at"]).isoformat(),
                action=str(r["action"]),
                actor=f"{r['actor_kind']}: {r['actor_name']}",
                reasons=tuple(str(reason) for reason in r["reasons"]),
                evidence=evidence_line(statistics),
            )
        )
    return tuple(rows)


def _json_object(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def psi_level(psi: float) -> str:
    if psi > PSI_LARGE:
        return "large"
    return "moderate" if psi >= PSI_MODERATE else "stable"


def drift_rows(frame: pd.DataFrame) -> tuple[DriftRow, ...]:
    """v_drift_psi rows, prod first, then by model version and feature."""
    rows = [
        DriftRow(
            variant=str(r["variant"]),
            model_version=str(r["model_version"]),
            feature=str(r["feature"]),
            requests=_count(r["requests"]),
            psi=number(r["psi"]) or 0.0,
            level=psi_level(number(r["psi"]) or 0.0),
        )
        for r in frame.to_dict("records")
    ]
    order = {name: i for i, name in enumerate(VARIANTS)}
    return tuple(sorted(rows, key=lambda d: (order.get(d.variant, 9), d.model_version, d.feature)))


def build_report(
    experiment_id: str,
    *,
    summary: pd.DataFrame,
    srm: pd.DataFrame,
    paired: pd.DataFrame,
    drift: pd.DataFrame,
    hourly: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
) -> ABReport:
    """The report of one experiment from its rows of each view (already filtered to it),
    and its decisions from the ledger table."""
    order = {name: i for i, name in enumerate(VARIANTS)}
    variants = tuple(
        sorted(
            (variant_stats(r) for r in summary.to_dict("records")),
            key=lambda v: order.get(v.variant, 9),
        )
    )
    by_name = {v.variant: v for v in variants}
    difference = None
    if "prod" in by_name and "candidate" in by_name:
        difference = mae_difference(by_name["prod"], by_name["candidate"])
    srm_rows = srm.to_dict("records")
    paired_rows = paired.to_dict("records")
    return ABReport(
        experiment_id=experiment_id,
        variants=variants,
        mae_difference=difference,
        srm=srm_result(srm_rows[0]) if srm_rows else None,
        paired=paired_result(paired_rows[0]) if paired_rows else None,
        drift=drift_rows(drift),
        hourly=hourly,
        decisions=decision_rows(decisions) if decisions is not None and not decisions.empty else (),
    )


def report_dict(report: ABReport) -> dict[str, Any]:
    """The report as JSON-ready data; the hourly series as records with ISO hours."""
    data = asdict(report)
    data.pop("hourly")
    hourly = report.hourly
    data["hourly"] = [
        {
            "hour": pd.Timestamp(r["hour"]).isoformat(),
            "variant": str(r["variant"]),
            **{c: number(r[c]) for c in _HOURLY_COLUMNS},
        }
        for r in hourly.to_dict("records")
    ]
    return data


# --------------------------------------------------------------------------- reading the views


def latest_experiment(clickhouse: ClickHouse, database: str) -> str | None:
    """The experiment of the most recent served request, or None when there is none."""
    frame = clickhouse.query_df(
        f"SELECT experiment_id FROM {_checked(database)}.requests "  # noqa: S608
        "WHERE NOT shadow ORDER BY occurred_at DESC LIMIT 1"
    )
    return None if frame.empty else str(frame["experiment_id"].iloc[0])


def read_report(
    clickhouse: ClickHouse, *, database: str, experiment_id: str, candidate_share: float
) -> ABReport:
    """Query each view for ``experiment_id`` and build its report.

    ``candidate_share`` is the split the SRM test expects (the gateway's share).
    """
    db = _checked(database)
    where = "WHERE experiment_id = {experiment:String}"
    params: dict[str, Any] = {"experiment": experiment_id, "share": candidate_share}

    def view(sql: str) -> pd.DataFrame:
        return clickhouse.query_df(sql, params)

    return build_report(
        experiment_id,
        summary=view(f"SELECT * FROM {db}.v_variant_summary {where}"),  # noqa: S608
        srm=view(f"SELECT * FROM {db}.v_srm(candidate_share = {{share:Float64}}) {where}"),  # noqa: S608
        paired=view(f"SELECT * FROM {db}.v_paired {where}"),  # noqa: S608
        drift=view(
            "SELECT experiment_id, variant, model_version, feature, requests, bins, psi "  # noqa: S608
            f"FROM {db}.v_drift_psi {where}"
        ),
        hourly=view(f"SELECT * FROM {db}.v_variant_hourly {where} ORDER BY hour, variant"),  # noqa: S608
        decisions=view(
            "SELECT sequence, occurred_at, action, actor_kind, actor_name, reasons, statistics "  # noqa: S608
            f"FROM {db}.ledger {where} ORDER BY sequence LIMIT 1 BY sequence"
        ),
    )


def _checked(database: str) -> str:
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid ClickHouse database name {database!r}")
    return database
