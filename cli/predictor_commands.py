"""``splitstream predictor`` and ``splitstream score``: the serving workers and batch scoring.

The lead adds both to the ``splitstream`` group in cli/main.py::

    from cli.predictor_commands import predictor, score
    main.add_command(predictor)
    main.add_command(score)
"""

import sys
from pathlib import Path

import click
from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.score_csv import score_csv
from cli.settings import get_settings
from predictors import main as predictor_main
from predictors.errors import DuplicateIdError
from predictors.settings import PredictorSettings


@click.command()
@click.option(
    "--slot",
    type=click.Choice(predictor_main.ROLES),
    required=True,
    help="prod or candidate: answer predict.requests.<slot> with that slot's model. "
    "score: the batch scorer of score.requests, with both slots' models.",
)
def predictor(slot: predictor_main.Role) -> None:
    """Run one predictor worker; start several per slot to share the load.

    \b
    A prod or candidate worker joins consumer group splitstream-predictor-<slot>
    on predict.requests.<slot> (both prefixed with SPLITSTREAM_TOPIC_PREFIX),
    predicts micro-batches of up to SPLITSTREAM_PREDICTOR_BATCH_MAX_ROWS in one
    call each, and replies to each request's reply_to address. It loads the
    slot's model from control/slots.json at start, on every model.reload
    broadcast (acknowledged with model.reloaded) and every
    SPLITSTREAM_PREDICTOR_SLOT_REFRESH_S. With an empty slot it idles, outside
    the group, until a model appears. The scorer (--slot score) joins
    splitstream-scorer on score.requests, serves both slots' models, and writes
    one score.result per row to score.results.

    \b
    /metrics listens on SPLITSTREAM_PREDICTOR_METRICS_PORT (0 picks a free port;
    the port is printed once the worker is ready). SIGTERM or Ctrl-C stops it after
    the batch in hand.

    \b
    Examples:
      splitstream predictor --slot prod
      splitstream predictor --slot candidate
      splitstream predictor --slot score
      SPLITSTREAM_PREDICTOR_METRICS_PORT=9101 splitstream predictor --slot prod
    """

    def ready(started: predictor_main.Started) -> None:
        click.echo(
            f"{started.predictor_id} ready: {started.topic} (group {started.group_id}), "
            f"metrics port {started.metrics_port}"
        )

    try:
        predictor_main.run(PredictorSettings.load(), slot, on_ready=ready)
    except KafkaError as error:
        click.echo(f"error: Kafka: {error}", err=True)
        sys.exit(1)


@click.command()
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with columns id,location,total_sqft,bath,bhk[,key]; a missing id is the row number.",
)
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="CSV to write: id,variant,model_version,status,price_lakhs,error (input order).",
)
@click.option(
    "--timeout-s",
    type=click.FloatRange(min=0, min_open=True),
    default=300.0,
    show_default=True,
    help="Stop waiting for results after this many seconds.",
)
def score(input_path: Path, output_path: Path, timeout_s: float) -> None:
    """Score a CSV of listings through Kafka (score.requests -> score.results).

    Needs a running scorer (splitstream predictor --slot score). Each row gets a
    variant the way live traffic does: hashed on its key column when given, else on
    its id. Exits 1 when some ids did not come back within --timeout-s.

    \b
    Examples:
      splitstream score --input listings.csv --output priced.csv
      splitstream score --input listings.csv --output priced.csv --timeout-s 60
    """
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {
            "sent": bar.add_task("sent", total=None),
            "received": bar.add_task("received", total=None),
        }

        def progress(stage: str, count: int) -> None:
            if stage == "total":
                for task in tasks.values():
                    bar.update(task, total=count)
            else:
                bar.advance(tasks[stage], count)

        try:
            report = score_csv(
                get_settings().with_default_kafka_role("batch"),
                input_path,
                output_path,
                timeout_s=timeout_s,
                progress=progress,
            )
        except (DuplicateIdError, ValueError) as error:
            raise click.UsageError(str(error)) from error
        except KafkaError as error:
            click.echo(f"error: Kafka: {error}", err=True)
            sys.exit(1)
    click.echo(
        f"{report.received}/{report.sent} results in {report.elapsed_s:.2f} s "
        f"({report.rows_per_s:,.0f} rows/s); {report.refused} refused as invalid; "
        f"written to {output_path}"
    )
    if report.missing:
        click.echo(
            f"error: {len(report.missing)} id(s) got no result within {timeout_s:g} s "
            f"(first: {', '.join(report.missing[:5])})",
            err=True,
        )
        sys.exit(1)
