"""The A/B report: read the analysis views, and summarise prod against the candidate.

The views are read and turned into typed rows by the ``analysis`` package (chDB in this
process, the sink over HTTP, or a server), so the report works wherever ClickHouse runs.
``build_report`` is a pure function of the views' rows; charts are drawn by
``consumers.report_charts``. The MAE interval here is a fixed-sample 95 % normal interval
for people to read; the promoter decides with its own anytime-valid test, not with this.
The decisions it took about the experiment come from the ledger table, each with the MAEs
it compared (both on the same requests when paired), the difference and its anytime-valid
interval.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from analysis.cells import json_object, number
from analysis.intervals import Interval, PairedResult, mae_difference, paired_result
from analysis.rows import (
    DriftRow,
    SrmResult,
    VariantStats,
    drift_rows,
    sorted_variant_stats,
    srm_result,
)
from analysis.views import ExperimentViews, records
from clients.ledger_evidence import evidence_line
from plumbing.clickhouse import ClickHouse

_HOURLY_COLUMNS = ("requests", "errors", "error_rate", "latency_ms_p95", "feedback", "mae")


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


def decision_rows(frame: pd.DataFrame) -> tuple[DecisionRow, ...]:
    """Ledger table rows of one experiment, in sequence order, "wait" evaluations left out."""
    rows = []
    for r in records(frame.sort_values("sequence")):
        if r["action"] == "wait":
            continue
        rows.append(
            DecisionRow(
                sequence=int(r["sequence"]),
                occurred_at=pd.Timestamp(r["occurred_at"]).isoformat(),
                action=str(r["action"]),
                actor=f"{r['actor_kind']}: {r['actor_name']}",
                reasons=tuple(str(reason) for reason in r["reasons"]),
                evidence=evidence_line(json_object(r.get("statistics"))),
            )
        )
    return tuple(rows)


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
    variants = tuple(sorted_variant_stats(records(summary)))
    by_name = {v.variant: v for v in variants}
    difference = None
    if "prod" in by_name and "candidate" in by_name:
        difference = mae_difference(by_name["prod"], by_name["candidate"])
    srm_rows = records(srm)
    paired_rows = records(paired)
    return ABReport(
        experiment_id=experiment_id,
        variants=variants,
        mae_difference=difference,
        srm=srm_result(srm_rows[0]) if srm_rows else None,
        paired=paired_result(paired_rows[0]) if paired_rows else None,
        drift=tuple(drift_rows(records(drift))),
        hourly=hourly,
        decisions=decision_rows(decisions) if decisions is not None and not decisions.empty else (),
    )


def report_dict(report: ABReport) -> dict[str, Any]:
    """The report as JSON-ready data; the hourly series as records with ISO hours."""
    data = asdict(report)
    data.pop("hourly")
    data["hourly"] = [
        {
            "hour": pd.Timestamp(r["hour"]).isoformat(),
            "variant": str(r["variant"]),
            **{c: number(r[c]) for c in _HOURLY_COLUMNS},
        }
        for r in records(report.hourly)
    ]
    return data


def read_report(
    clickhouse: ClickHouse, *, database: str, experiment_id: str, candidate_share: float
) -> ABReport:
    """Query each view for ``experiment_id`` and build its report.

    ``candidate_share`` is the split the SRM test expects (the gateway's share).
    """
    views = ExperimentViews(clickhouse, database=database, experiment_id=experiment_id)
    return build_report(
        experiment_id,
        summary=views.summary(),
        srm=views.srm(candidate_share),
        paired=views.paired(),
        drift=views.drift(),
        hourly=views.hourly(),
        decisions=views.decisions(),
    )
