"""``splitstream report``: the A/B summary of an experiment, from ClickHouse's views."""

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from analysis.rows import VariantStats
from analysis.views import latest_experiment
from cli.settings import Settings, get_settings
from consumers.report import ABReport, read_report, report_dict


@click.command()
@click.option(
    "--experiment",
    "experiment_id",
    default=None,
    help="Experiment id. Default: the experiment of the most recent request.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, or JSON for scripts.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write PNG charts (hourly requests, errors, p95 latency, MAE; PSI drift) here.",
)
@click.option(
    "--candidate-share",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Split the SRM test expects. Default: SPLITSTREAM_CANDIDATE_SHARE.",
)
def report(
    experiment_id: str | None,
    output_format: str,
    plots_dir: Path | None,
    candidate_share: float | None,
) -> None:
    """Print the A/B summary of an experiment: prod against the candidate.

    \b
    Per variant: requests, errors (error replies and timeouts), latency p50/p95/p99,
    feedback, MAE and RMSE. Then the candidate-minus-prod MAE with a fixed-sample 95 %
    interval (for reading; the promoter uses its own anytime-valid test), the
    sample-ratio-mismatch p-value (a mismatch is p < 0.001), the paired difference on
    shadow-scored requests, and feature drift (PSI against the training data).
    It reads the views of schemas/clickhouse/views.sql through the sink (chDB) or the
    ClickHouse server at SPLITSTREAM_CLICKHOUSE_URL.

    \b
    Exit codes:
      0  printed
      1  ClickHouse could not be read, or it holds no request of the experiment
      2  bad usage

    \b
    Examples:
      splitstream report
      splitstream report --experiment "exp-1:m-20261127T021158Z-1a2b3c4d"
      splitstream report --format json > report.json
      splitstream report --plots charts/          # also writes charts/*.png
      splitstream report --candidate-share 0.5    # after changing the split by hand
    """
    settings = get_settings()
    share = settings.candidate_share if candidate_share is None else candidate_share
    try:
        with Console(stderr=True).status("reading the experiment's views from ClickHouse"):
            chosen, result = _read(settings, experiment_id, candidate_share=share)
    except Exception as error:  # any engine or transport failure: say what, never a traceback
        click.echo(f"error: cannot read ClickHouse: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    if result is None or not result.variants:
        click.echo(f"error: no served requests for {chosen or 'any experiment'} yet", err=True)
        sys.exit(1)
    charts = _write_charts(result, plots_dir)
    if output_format == "json":
        data = {**report_dict(result), "charts": [str(p) for p in charts]}
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()  # made per run: it reads the terminal's width (COLUMNS) now
    print_report(result, console)
    for path in charts:
        console.print(f"chart: {path}")


def _read(
    settings: Settings, experiment_id: str | None, *, candidate_share: float
) -> tuple[str | None, ABReport | None]:
    """The experiment (given, else the latest) and its report; (None, None) before any."""
    from clients.sink_query import open_clickhouse_reader  # the reader needs the sink up

    clickhouse = open_clickhouse_reader(settings)
    try:
        chosen = experiment_id or latest_experiment(clickhouse, settings.clickhouse_database)
        if chosen is None:
            return None, None
        summary = read_report(
            clickhouse,
            database=settings.clickhouse_database,
            experiment_id=chosen,
            candidate_share=candidate_share,
        )
        return chosen, summary
    finally:
        clickhouse.close()


def _write_charts(result: ABReport, plots_dir: Path | None) -> list[Path]:
    if plots_dir is None:
        return []
    from consumers.report_charts import write_charts  # matplotlib is slow to import

    return write_charts(result, plots_dir)


# --------------------------------------------------------------------------- rendering


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rows(stats: VariantStats) -> list[str]:
    return [
        stats.model_versions or "—",
        f"{stats.requests:,}",
        f"{stats.errors:,} ({stats.error_rate:.2%})",
        f"{stats.timeouts:,}",
        _fmt(stats.latency_ms_p50, 0),
        _fmt(stats.latency_ms_p95, 0),
        _fmt(stats.latency_ms_p99, 0),
        f"{stats.feedback:,}",
        _fmt(stats.mae),
        _fmt(stats.rmse),
    ]


ROW_NAMES = (
    "model version(s)",
    "requests",
    "errors",
    "of which timeouts",
    "latency p50 (ms)",
    "latency p95 (ms)",
    "latency p99 (ms)",
    "feedback",
    "MAE (lakhs)",
    "RMSE (lakhs)",
)


def print_report(result: ABReport, out: Console) -> None:
    """The report as rich tables: variants side by side, then the tests and drift."""
    table = Table(title=f"experiment {result.experiment_id}")
    table.add_column("")
    columns = [_rows(v) for v in result.variants]
    for stats in result.variants:
        table.add_column(stats.variant, justify="right")
    for i, name in enumerate(ROW_NAMES):
        table.add_row(name, *(column[i] for column in columns))
    out.print(table)
    out.print(_mae_line(result))
    out.print(_srm_line(result))
    out.print(_paired_line(result))
    if result.decisions:
        decisions = Table("#", "time", "action", "by", "why", "evidence", title="decisions")
        for decision in result.decisions:
            decisions.add_row(
                str(decision.sequence),
                decision.occurred_at[:19],
                decision.action,
                decision.actor,
                "; ".join(decision.reasons),
                decision.evidence or "—",
            )
        out.print(decisions)
    if result.drift:
        drift = Table("variant", "model version", "feature", "requests", "PSI", "shift")
        for row in result.drift:
            style = {"large": "red", "moderate": "yellow"}.get(row.level, "")
            drift.add_row(
                row.variant,
                row.model_version,
                row.feature,
                f"{row.requests:,}",
                f"{row.psi:.3f}",
                f"[{style}]{row.level}[/]" if style else row.level,
            )
        out.print(drift)


def _mae_line(result: ABReport) -> str:
    diff = result.mae_difference
    if diff is None:
        return "MAE candidate - prod: not enough feedback (2 per variant needed)"
    return (
        f"MAE candidate - prod: {diff.estimate:+.2f} lakhs "
        f"(95 % interval {diff.low:+.2f} to {diff.high:+.2f}, fixed-sample, for reading only)"
    )


def _srm_line(result: ABReport) -> str:
    srm = result.srm
    if srm is None or srm.p_value is None:
        return "sample-ratio mismatch: no split to test"
    verdict = "[red]MISMATCH[/red]" if srm.mismatch else "ok"
    observed = _fmt(srm.observed_candidate_share, 3)
    return (
        f"sample-ratio mismatch: {verdict}, p = {srm.p_value:.3g} "
        f"(candidate share {observed} observed, {srm.expected_candidate_share:.3f} expected; "
        "fixed-sample chi-square against the current share, for reading only: the promoter "
        "tests each period of constant share sequentially)"
    )


def _paired_line(result: ABReport) -> str:
    paired = result.paired
    if paired is None:
        return "paired (shadow) |prod error| - |candidate error|: no shadow-scored feedback"
    interval = paired.interval
    spread = (
        "" if interval is None else f", 95 % interval {interval.low:+.2f} to {interval.high:+.2f}"
    )
    maes = ""
    if paired.mae_prod is not None and paired.mae_candidate is not None:
        maes = f"MAE prod {paired.mae_prod:.2f}, candidate {paired.mae_candidate:.2f} on them; "
    return (
        f"paired (shadow) on {paired.pairs:,} requests: {maes}|prod error| - |candidate error| "
        f"{paired.diff_mean:+.2f} lakhs{spread} (> 0: candidate closer)"
    )
