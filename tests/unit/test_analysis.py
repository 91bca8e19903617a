"""The read side without services: thresholds defined once, typed rows, point-in-time cuts,
and the package's place in the import graph."""

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from analysis.cells import count, json_object, number
from analysis.point_in_time import Cut, ch_time
from analysis.rows import drift_rows, sorted_variant_stats, srm_result
from analysis.thresholds import PSI_LARGE, SRM_ALPHA, psi_level, srm_mismatch, variant_rank
from consumers.report import build_report
from gateway import dashboard_rows
from promoter.policy import Policy, load_policy

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"gateway", "predictors", "consumers", "promoter", "trainer"}


def test_the_policy_takes_its_split_and_drift_thresholds_from_analysis() -> None:
    assert Policy().srm_p_threshold == SRM_ALPHA
    assert load_policy().srm_p_threshold == SRM_ALPHA
    assert Policy().drift_psi_threshold == PSI_LARGE
    assert load_policy().drift_psi_threshold == PSI_LARGE


def test_srm_mismatch_is_strictly_below_alpha() -> None:
    assert srm_mismatch(SRM_ALPHA * 0.999)
    assert not srm_mismatch(SRM_ALPHA)
    assert not srm_mismatch(None)


def test_a_large_psi_is_above_the_large_threshold() -> None:
    assert psi_level(PSI_LARGE) == "moderate"
    assert psi_level(PSI_LARGE + 1e-9) == "large"


def test_variants_rank_prod_then_candidate_then_the_rest() -> None:
    assert sorted(["shadow", "candidate", "prod"], key=variant_rank) == [
        "prod",
        "candidate",
        "shadow",
    ]


def test_cells_read_null_nan_and_na_as_no_data() -> None:
    assert [number(v) for v in (None, float("nan"), pd.NA, 2)] == [None, None, None, 2.0]
    assert count(None) == 0 and count(7.0) == 7
    assert json_object('{"a": 1}') == {"a": 1}
    assert json_object("[1]") == {} and json_object("not json") == {} and json_object(None) == {}


def test_the_report_and_the_dashboard_read_the_same_rows_the_same_way() -> None:
    srm = {
        "prod_requests": 900,
        "candidate_requests": 100,
        "expected_candidate_share": 0.5,
        "observed_candidate_share": 0.1,
        "chi2": 640.0,
        "p_value": 1e-9,
    }
    drift = [
        {"variant": "candidate", "model_version": "m-2", "feature": "sqft", "requests": 9,
         "psi": 0.4},
        {"variant": "prod", "model_version": "m-1", "feature": "bhk", "requests": 9,
         "psi": 0.05},
    ]  # fmt: skip
    report = build_report(
        "exp-1",
        summary=pd.DataFrame(columns=["variant"]),
        srm=pd.DataFrame([srm]),
        paired=pd.DataFrame(columns=["pairs"]),
        drift=pd.DataFrame(drift),
        hourly=pd.DataFrame(),
    )
    shown = dashboard_rows.srm_result(srm)
    assert report.srm is not None and report.srm.mismatch and shown.mismatch
    assert report.srm.p_value == shown.p_value == srm_result(srm).p_value
    assert [d.model_dump() for d in dashboard_rows.drift_rows(drift)] == [
        {
            "variant": d.variant,
            "model_version": d.model_version,
            "feature": d.feature,
            "requests": d.requests,
            "psi": d.psi,
            "level": d.level,
        }
        for d in report.drift
    ]
    assert [d.variant for d in drift_rows(drift)] == ["prod", "candidate"]
    assert sorted_variant_stats([]) == []


def test_a_cut_names_its_moments_in_clickhouse_time_and_milliseconds() -> None:
    until = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    change = until - timedelta(minutes=1)
    cut = Cut(
        experiment_id="exp-1",
        since=until - timedelta(hours=1),
        until=until,
        changes=[change],
        settle_s=10.0,
    )
    assert cut.params() == {
        "experiment": "exp-1",
        "since": "2026-01-02 02:04:05.678",
        "until": "2026-01-02 03:04:05.678",
        "changes_ms": [int(change.timestamp() * 1000)],
        "settle_ms": 10_000,
    }
    local = until.astimezone(datetime.now().astimezone().tzinfo)
    assert ch_time(local) == "2026-01-02 03:04:05.678"


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    "module", sorted((ROOT / "analysis").glob("*.py")), ids=lambda path: path.name
)
def test_the_read_side_imports_no_service_and_stays_short(module: Path) -> None:
    assert not _imported_packages(module) & (SERVICES | {"cli", "stack", "bench", "chaos"})
    assert len(module.read_text().splitlines()) <= 300
