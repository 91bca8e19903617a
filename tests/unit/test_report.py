"""The A/B report without services: summary maths, JSON, the rich tables, charts, the CLI."""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

import clients.sink_query
from analysis.intervals import Z_95, mae_difference, paired_result
from analysis.rows import srm_result, variant_stats
from analysis.thresholds import SRM_ALPHA, psi_level
from cli.report_command import print_report, report
from consumers.report import build_report, report_dict
from consumers.report_charts import DRIFT_CHART, HOURLY_CHARTS, write_charts


def _summary_row(variant: str, errors: np.ndarray, requests: int = 100) -> dict[str, Any]:
    """A v_variant_summary row whose feedback statistics come from ``errors``."""
    n = len(errors)
    return {
        "experiment_id": "exp-1:m-2",
        "variant": variant,
        "model_versions": "m-1" if variant == "prod" else "m-2",
        "requests": requests,
        "errors": 3,
        "timeouts": 1,
        "error_rate": 3 / requests,
        "latency_ms_p50": 12.0,
        "latency_ms_p95": 80.0,
        "latency_ms_p99": 120.0,
        "feedback": n,
        "abs_error_sum": float(errors.sum()),
        "abs_error_sq_sum": float((errors**2).sum()),
        "mae": float(errors.mean()) if n else None,
        "rmse": float(np.sqrt((errors**2).mean())) if n else None,
    }


def _errors(seed: int, n: int, scale: float) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(0, scale, n))


def _hourly() -> pd.DataFrame:
    hours = pd.date_range("2026-11-27 01:00", periods=3, freq="h", tz="UTC")
    rows = [
        {
            "hour": hour,
            "variant": variant,
            "requests": 10 + i,
            "errors": i,
            "error_rate": i / (10 + i),
            "latency_ms_p95": 50.0 + i,
            "feedback": 5,
            "mae": 20.0 + i if variant == "prod" else None,
        }
        for i, hour in enumerate(hours)
        for variant in ("prod", "candidate")
    ]
    return pd.DataFrame(rows)


def _report_frames() -> dict[str, pd.DataFrame]:
    prod, candidate = _errors(1, 400, 30.0), _errors(2, 150, 24.0)
    return {
        "summary": pd.DataFrame(
            [_summary_row("candidate", candidate, 160), _summary_row("prod", prod, 640)]
        ),
        "srm": pd.DataFrame(
            [
                {
                    "experiment_id": "exp-1:m-2",
                    "prod_requests": 640,
                    "candidate_requests": 160,
                    "expected_candidate_share": 0.2,
                    "observed_candidate_share": 0.2,
                    "chi2": 0.0,
                    "p_value": 1.0,
                }
            ]
        ),
        "paired": pd.DataFrame(
            [
                {
                    "experiment_id": "exp-1:m-2",
                    "pairs": 3,
                    "diff_sum": 6.0,
                    "diff_sq_sum": 14.0,
                    "prod_abs_error_sum": 75.0,
                    "candidate_abs_error_sum": 69.0,
                }
            ]
        ),
        "drift": pd.DataFrame(
            [
                {
                    "variant": "candidate",
                    "model_version": "m-2",
                    "feature": "bhk",
                    "requests": 9,
                    "psi": 0.3,
                },
                {
                    "variant": "prod",
                    "model_version": "m-1",
                    "feature": "bhk",
                    "requests": 40,
                    "psi": 0.01,
                },
            ]
        ),
        "hourly": _hourly(),
        "decisions": pd.DataFrame(
            [
                {
                    "sequence": seq,
                    "occurred_at": pd.Timestamp("2026-11-27T03:00:00Z"),
                    "action": action,
                    "actor_kind": "policy",
                    "actor_name": "promoter",
                    "reasons": [f"reason {seq}"],
                    "statistics": json.dumps(statistics),
                }
                for seq, action, statistics in (
                    (5, "wait", {}),
                    (4, "promote", {"mae": PAIRED_MAE}),
                )
            ]
        ),
    }


PAIRED_MAE = {
    "method": "paired",
    "n_prod": 3,
    "n_candidate": 3,
    "mae_prod": 25.0,
    "mae_candidate": 23.0,
    "difference": -2.0,
    "lower": -3.5,
    "upper": -0.5,
    "alpha": 0.05,
}


def test_mae_difference_is_the_welch_interval_of_the_raw_errors() -> None:
    # Given raw absolute errors per arm, and only their sums in the view rows
    prod_errors, candidate_errors = _errors(3, 500, 30.0), _errors(4, 200, 25.0)
    prod = variant_stats(_summary_row("prod", prod_errors))
    candidate = variant_stats(_summary_row("candidate", candidate_errors))
    # When the difference is computed from the sufficient statistics
    interval = mae_difference(prod, candidate)
    # Then it equals the interval computed from the raw samples
    assert interval is not None
    estimate = candidate_errors.mean() - prod_errors.mean()
    se = math.sqrt(
        prod_errors.var(ddof=1) / len(prod_errors)
        + candidate_errors.var(ddof=1) / len(candidate_errors)
    )
    assert interval.estimate == pytest.approx(estimate)
    assert interval.low == pytest.approx(estimate - Z_95 * se)
    assert interval.high == pytest.approx(estimate + Z_95 * se)


def test_mae_difference_needs_two_feedbacks_per_variant() -> None:
    prod = variant_stats(_summary_row("prod", _errors(5, 50, 10.0)))
    one = variant_stats(_summary_row("candidate", _errors(6, 1, 10.0)))
    assert mae_difference(prod, one) is None


def test_null_view_values_become_none_not_nan() -> None:
    row = _summary_row("candidate", np.array([]))
    row.update(mae=float("nan"), rmse=None, latency_ms_p95=pd.NA)
    stats = variant_stats(row)
    assert stats.mae is None and stats.rmse is None and stats.latency_ms_p95 is None
    assert stats.feedback == 0


def test_paired_result_is_the_mean_and_interval_of_the_differences() -> None:
    diffs = np.random.default_rng(8).normal(2.0, 10.0, 300)
    row = {"pairs": 300, "diff_sum": diffs.sum(), "diff_sq_sum": (diffs**2).sum()}
    result = paired_result(row)
    assert result is not None and result.interval is not None
    assert result.diff_mean == pytest.approx(diffs.mean())
    assert result.diff_sd == pytest.approx(diffs.std(ddof=1))
    half = Z_95 * diffs.std(ddof=1) / math.sqrt(300)
    assert result.interval.low == pytest.approx(diffs.mean() - half)
    assert paired_result({"pairs": 0, "diff_sum": None, "diff_sq_sum": None}) is None
    single = paired_result({"pairs": 1, "diff_sum": 4.0, "diff_sq_sum": 16.0})
    assert single is not None and single.interval is None and single.diff_mean == 4.0


def test_srm_mismatch_is_p_below_alpha_and_null_p_is_never_one() -> None:
    base = {
        "prod_requests": 10,
        "candidate_requests": 0,
        "expected_candidate_share": 0.0,
        "observed_candidate_share": 0.0,
        "chi2": None,
    }
    assert srm_result({**base, "p_value": SRM_ALPHA / 2}).mismatch
    assert not srm_result({**base, "p_value": SRM_ALPHA * 2}).mismatch
    assert not srm_result({**base, "p_value": None}).mismatch


def test_psi_levels_follow_the_rule_of_thumb() -> None:
    assert [psi_level(v) for v in (0.0, 0.099, 0.1, 0.25, 0.26)] == [
        "stable",
        "stable",
        "moderate",
        "moderate",
        "large",
    ]


def test_build_report_orders_prod_first_and_serialises_to_json() -> None:
    result = build_report("exp-1:m-2", **_report_frames())
    assert [v.variant for v in result.variants] == ["prod", "candidate"]
    assert result.mae_difference is not None and result.mae_difference.estimate < 0
    assert result.srm is not None and not result.srm.mismatch
    assert result.paired is not None and result.paired.diff_mean == 2.0
    assert [d.variant for d in result.drift] == ["prod", "candidate"]
    assert result.drift[1].level == "large"
    data = json.loads(json.dumps(report_dict(result)))
    assert data["variants"][0]["requests"] == 640
    assert len(data["hourly"]) == 6 and data["hourly"][0]["hour"].startswith("2026-11-27T01:00")
    assert data["hourly"][1]["mae"] is None  # the candidate's NaN MAE is null, not NaN


def test_an_experiment_with_prod_only_has_no_comparison() -> None:
    frames = _report_frames()
    frames["summary"] = frames["summary"][frames["summary"]["variant"] == "prod"]
    frames["paired"] = frames["paired"].iloc[0:0]
    result = build_report("exp-1:prod-only", **frames)
    assert result.mae_difference is None and result.paired is None
    console = Console(record=True, width=140)
    print_report(result, console)
    text = console.export_text()
    assert "not enough feedback" in text and "no shadow-scored feedback" in text


def test_the_table_shows_each_variant_and_the_tests() -> None:
    result = build_report("exp-1:m-2", **_report_frames())
    console = Console(record=True, width=160)
    print_report(result, console)
    text = console.export_text()
    assert "experiment exp-1:m-2" in text
    assert "640" in text and "160" in text
    assert f"{result.variants[0].mae:,.2f}" in text
    assert "sample-ratio mismatch: ok" in text
    assert "paired (shadow) on 3 requests: MAE prod 25.00, candidate 23.00 on them" in text
    assert "+2.00 lakhs" in text
    assert "large" in text
    # the promoter's decision, with the MAEs it compared and its interval; no waits
    assert "promote" in text and "reason 5" not in text
    assert "MAE prod 25.00, candidate 23.00 on the same requests" in text


def test_charts_are_png_files_and_charts_without_data_are_skipped(tmp_path: Path) -> None:
    frames = _report_frames()
    frames["hourly"]["mae"] = None
    written = write_charts(build_report("exp-1:m-2", **frames), tmp_path / "charts")
    names = {p.name for p in written}
    assert names == (set(HOURLY_CHARTS) - {"mae_per_hour.png"}) | {DRIFT_CHART}
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


class CannedClickHouse:
    """Answers each view's query with a canned frame (the CLI's wiring, not the SQL)."""

    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames
        self.closed = False
        self.params: list[dict[str, Any] | None] = []

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        self.params.append(params)
        for view, key in (
            ("v_variant_summary", "summary"),
            ("v_srm", "srm"),
            ("v_paired", "paired"),
            ("v_drift_psi", "drift"),
            ("v_variant_hourly", "hourly"),
            (".ledger ", "decisions"),
        ):
            if (view if view.startswith(".") else f".{view}") in sql:
                return self.frames[key]
        return pd.DataFrame({"experiment_id": ["exp-1:m-2"]})  # the latest experiment

    def close(self) -> None:
        self.closed = True


def test_cli_prints_json_writes_charts_and_closes_the_reader(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    canned = CannedClickHouse(_report_frames())
    monkeypatch.setattr(
        clients.sink_query, "open_clickhouse_reader", lambda _s: canned, raising=False
    )
    args = ["--format", "json", "--plots", str(tmp_path), "--candidate-share", "0.3"]
    result = CliRunner().invoke(report, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["experiment_id"] == "exp-1:m-2"
    assert len(data["charts"]) == 5 and all(Path(p).is_file() for p in data["charts"])
    assert canned.closed
    assert {"experiment": "exp-1:m-2", "share": 0.3} in canned.params


def test_cli_says_what_failed_when_clickhouse_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(_settings: object) -> None:
        raise ConnectionRefusedError("sink not running on 127.0.0.1:7010")

    monkeypatch.setattr(clients.sink_query, "open_clickhouse_reader", refuse, raising=False)
    result = CliRunner().invoke(report, [])
    assert result.exit_code == 1
    assert "cannot read ClickHouse: ConnectionRefusedError: sink not running" in result.output


def test_cli_with_no_requests_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = _report_frames()
    canned = CannedClickHouse({k: v.iloc[0:0] for k, v in frames.items()})
    canned.query_df = lambda sql, params=None: pd.DataFrame({"experiment_id": []})  # type: ignore[method-assign]
    monkeypatch.setattr(
        clients.sink_query, "open_clickhouse_reader", lambda _s: canned, raising=False
    )
    result = CliRunner().invoke(report, [])
    assert result.exit_code == 1 and "no served requests for any experiment" in result.output
    assert canned.closed
