"""``splitstream train`` (once) and ``splitstream trainer`` (on a schedule)."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from plumbing.cpu_priority import yield_to_request_path
from schemas.errors import SplitstreamError
from trainer.errors import EXIT_ERROR
from trainer.publish import TARGET_SLOTS, TargetSlot
from trainer.selection import ALGORITHMS, BASELINE, DEFAULT_ALGORITHMS, WEAK
from trainer.settings import TrainerSettings

if TYPE_CHECKING:
    from trainer.main import StepHook, TrainResult

_ALGORITHM_HELP = (
    "Search only this algorithm (repeatable). Default: all of "
    f"{', '.join(DEFAULT_ALGORITHMS)}. '{WEAK}' is a deliberately weak depth-3 tree; "
    f"'{BASELINE}' predicts the training median (no skill)."
)


@click.command()
@click.option(
    "--algorithm",
    "-a",
    "algorithms",
    multiple=True,
    type=click.Choice(list(ALGORITHMS)),
    help=_ALGORITHM_HELP,
)
@click.option(
    "--slot",
    type=click.Choice(TARGET_SLOTS),
    default="auto",
    show_default=True,
    help="auto: best for the very first model, candidate after that; or force one.",
)
def train(algorithms: tuple[str, ...], slot: TargetSlot) -> None:
    """Train once: load and clean the data, choose a model, publish it if it passes the gate.

    The data comes from SPLITSTREAM_DATA_PATH (downloaded and sha256-checked when
    missing). Every model learns log(price), so none can answer a price <= 0. The
    model is chosen by 5-fold cross-validated MAE on the training part, reported on
    the held-out test part, logged to MLflow, and published to S3 and its slot with a
    model.candidate_published event if it passes the gate: its test R² reaches
    SPLITSTREAM_TRAIN_R2_FLOOR, it answers a price above 0 everywhere on a grid of the
    whole feature domain, it is not the model already in the best or candidate slot,
    and its MAE is no worse than the best model's by more than
    SPLITSTREAM_TRAIN_MAX_MAE_REGRESSION. During the watch after a promotion a new
    candidate is queued: it takes the candidate slot when the watch ends.

    \b
    Exit codes:
      0  published (or queued behind a running watch)
      1  any other error (the message names the stage that failed)
      2  bad usage
      3  not published: test R² below SPLITSTREAM_TRAIN_R2_FLOOR
      4  not published: test MAE worse than the best model's by more than allowed
      8  not published: nothing changed, the model is already in a slot
      9  not published: it answers a price <= 0 somewhere in the feature domain

    \b
    Examples:
      splitstream train
      splitstream train --algorithm ridge --algorithm lasso
      splitstream train --slot best          # replace the best model directly
      SPLITSTREAM_TRAIN_R2_FLOOR=0.99 splitstream train    # exits 3
      # a deliberately weak candidate, for a demo (the regression gate relaxed):
      SPLITSTREAM_TRAIN_MAX_MAE_REGRESSION=10 splitstream train --algorithm weak
    """
    from trainer.main import planned_steps, train_and_publish  # MLflow: only when it trains

    settings = TrainerSettings.load()
    yield_to_request_path(settings.background_niceness)  # serving may share these cores
    chosen = algorithms or None
    try:
        with _progress(planned_steps(chosen)) as step:
            result = train_and_publish(
                settings,
                target_slot=slot,
                algorithms=chosen,
                on_step=step,
            )
    except SplitstreamError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    _print_result(result, bucket=settings.s3_bucket)
    sys.exit(result.exit_code)


@click.command()
@click.option(
    "--cron", default=None, help="Crontab expression (UTC); default SPLITSTREAM_TRAIN_CRON."
)
@click.option(
    "--algorithm",
    "-a",
    "algorithms",
    multiple=True,
    type=click.Choice(list(ALGORITHMS)),
    help=_ALGORITHM_HELP,
)
@click.option("--now", "run_now", is_flag=True, help="Also train once right away.")
def trainer(cron: str | None, algorithms: tuple[str, ...], run_now: bool) -> None:
    """Train on a schedule (APScheduler): every SPLITSTREAM_TRAIN_CRON, read in UTC.

    The default, "0 3 * * 1", trains every Monday at 03:00 UTC. Each run is what
    `splitstream train` does with --slot auto; a refused or failed run is logged and
    the schedule goes on. Stop it with Ctrl-C.

    \b
    Examples:
      splitstream trainer
      splitstream trainer --now
      splitstream trainer --cron "*/30 * * * *" --algorithm ridge
      SPLITSTREAM_TRAIN_CRON="0 2 * * *" splitstream trainer
    """
    from trainer import schedule  # MLflow, as above

    def ready(started: schedule.Started) -> None:
        click.echo(f"training on '{started.cron}' (UTC); next run {started.next_run:%c %Z}")

    settings = TrainerSettings.load()
    try:
        schedule.cron_trigger(cron or settings.train_cron)
    except ValueError as error:
        raise click.BadParameter(
            str(error), param_hint="--cron / SPLITSTREAM_TRAIN_CRON"
        ) from error
    schedule.run(
        settings, on_ready=ready, cron=cron, algorithms=algorithms or None, run_now=run_now
    )
    click.echo("trainer stopped")


@contextmanager
def _progress(total: int) -> Iterator["StepHook"]:
    """A progress bar on stderr with one step per stage and per algorithm."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task("starting", total=total)
        started = False

        def step(name: str) -> None:
            nonlocal started
            if started:
                progress.advance(task)
            started = True
            progress.update(task, description=name)

        yield step
        progress.update(task, completed=total, description="done")


def _print_result(result: "TrainResult", *, bucket: str) -> None:
    console = Console() if sys.stdout.isatty() else Console(width=200)
    table = Table("algorithm", "best params", "CV MAE", "test MAE", "test RMSE", "test R²")
    for candidate in result.selection.candidates:
        mark = " *" if candidate is result.selection.winner else ""
        table.add_row(
            candidate.algorithm + mark,
            ", ".join(f"{k}={v}" for k, v in candidate.params.items()) or "-",
            f"{-candidate.cv_score:.3f}",
            f"{candidate.test.mae:.3f}",
            f"{candidate.test.rmse:.3f}",
            f"{candidate.test.r2:.4f}",
        )
    console.print(table)
    metrics = result.metrics
    console.print(
        f"chosen: {result.algorithm} {result.params} (by CV MAE); test MAE "
        f"{metrics['test_mae']:.3f}, RMSE {metrics['test_rmse']:.3f}, R² {metrics['test_r2']:.4f}"
    )
    console.print(
        f"data: {result.rows} rows, {result.model_locations} location columns "
        f"({result.locations} locations known); sha256 {result.data_sha256[:12]}…, "
        f"s3://{bucket}/{result.raw_data_key}"
    )
    console.print(f"MLflow run: {result.mlflow_run_id}")
    if result.published and result.slot == "queued":
        console.print(
            f"published {result.version}, queued: a watch is running, and it takes the "
            f"candidate slot when the watch ends: s3://{bucket}/models/{result.version}/"
        )
    elif result.published:
        console.print(
            f"published {result.version} to the {result.slot} slot: "
            f"s3://{bucket}/models/{result.version}/ (registered version "
            f"{result.registered_version}); took {result.timings_s.get('total', 0):.1f} s"
        )
    else:
        console.print(f"not published (exit {result.exit_code}): {result.gate.reason}")
