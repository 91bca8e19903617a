"""PNG charts of an A/B report: hourly requests, MAE and p95 latency per variant, and drift.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global
state), so it runs in any process and thread.
"""

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from analysis.thresholds import PSI_LARGE, PSI_MODERATE, VARIANTS
from consumers.report import ABReport

COLOURS = {"prod": "#1f77b4", "candidate": "#ff7f0e"}
#: Chart file name -> (hourly column, y-axis label).
HOURLY_CHARTS = {
    "requests_per_hour.png": ("requests", "served requests"),
    "errors_per_hour.png": ("error_rate", "error rate"),
    "latency_p95_per_hour.png": ("latency_ms_p95", "p95 latency (ms)"),
    "mae_per_hour.png": ("mae", "MAE (lakhs)"),
}
DRIFT_CHART = "drift_psi.png"


def write_charts(report: ABReport, out_dir: Path) -> list[Path]:
    """Write every chart that has data to ``out_dir`` (created if missing); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, (column, label) in HOURLY_CHARTS.items():
        if _has_values(report.hourly, column):
            written.append(_hourly_chart(report, column, label, out_dir / name))
    if report.drift:
        written.append(_drift_chart(report, out_dir / DRIFT_CHART))
    return written


def _has_values(hourly: pd.DataFrame, column: str) -> bool:
    return column in hourly.columns and bool(hourly[column].notna().any())


def _hourly_chart(report: ABReport, column: str, label: str, path: Path) -> Path:
    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.add_subplot()
    for variant in VARIANTS:
        rows = report.hourly[report.hourly["variant"] == variant]
        if not rows.empty:
            hours = pd.to_datetime(rows["hour"])
            values = pd.to_numeric(rows[column], errors="coerce")
            axes.plot(hours, values, marker="o", label=variant, color=COLOURS[variant])
    axes.set_title(f"{report.experiment_id}: {label} per hour (UTC)")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.autofmt_xdate()
    figure.savefig(path, dpi=100)
    return path


def _drift_chart(report: ABReport, path: Path) -> Path:
    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.add_subplot()
    features = sorted({d.feature for d in report.drift})
    order = {name: i for i, name in enumerate(VARIANTS)}
    series = sorted(
        {(d.variant, d.model_version) for d in report.drift},
        key=lambda s: (order.get(s[0], len(order)), s[1]),
    )
    width = 0.8 / len(series)
    for i, (variant, version) in enumerate(series):
        psi = {
            d.feature: d.psi
            for d in report.drift
            if (d.variant, d.model_version) == (variant, version)
        }
        positions = [f + i * width for f in range(len(features))]
        heights = [psi.get(feature, 0.0) for feature in features]
        axes.bar(
            positions, heights, width, label=f"{variant} ({version})", color=COLOURS.get(variant)
        )
    axes.set_xticks([f + 0.4 - width / 2 for f in range(len(features))], features)
    axes.axhline(PSI_MODERATE, color="grey", linestyle="--", linewidth=1, label="moderate shift")
    axes.axhline(PSI_LARGE, color="red", linestyle="--", linewidth=1, label="large shift")
    axes.set_title(f"{report.experiment_id}: PSI of served features against training")
    axes.set_ylabel("PSI")
    axes.legend(fontsize="small")
    figure.savefig(path, dpi=100)
    return path
