"""``splitstream sink`` and ``splitstream query``: the event sink, and read-only SQL on its data.

The lead adds both to ``COMMANDS`` in cli/main.py::

    "sink": "cli.sink_commands:sink",
    "query": "cli.sink_commands:query",
"""

import json
import math
import sys
from typing import Any

import click
import pandas as pd
from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from cli.settings import get_settings
from consumers.settings import SinkSettings


@click.command()
def sink() -> None:
    """Store every topic's events in ClickHouse, and answer read-only SQL.

    \b
    Joins consumer group splitstream-sink (SPLITSTREAM_SINK_GROUP, prefixed with
    SPLITSTREAM_TOPIC_PREFIX) on every topic with a table in schemas/topics.json and
    writes batches of SPLITSTREAM_SINK_BATCH_ROWS messages or SPLITSTREAM_SINK_BATCH_SECONDS,
    whichever comes first, each insert with a deduplication token; offsets are
    committed after the insert. Poison messages go to the dead-letter topic.
    ClickHouse is chDB in <state_dir>/chdb, owned by this process, unless
    SPLITSTREAM_CLICKHOUSE_URL names a server.

    \b
    On SPLITSTREAM_SINK_HOST:SPLITSTREAM_SINK_PORT (127.0.0.1:7020):
      POST /query   {"sql": "SELECT ...", "params": {...}}: read-only SQL, JSON rows
      GET /metrics  Prometheus: lag, rows written, insert time, dead letters
      GET /healthz  200 once the tables exist
    SIGTERM or Ctrl-C writes the batch in hand, commits, and stops.

    \b
    Examples:
      splitstream sink
      SPLITSTREAM_SINK_PORT=7021 splitstream sink
      curl -s localhost:7020/query -H "authorization: Bearer $SPLITSTREAM_QUERY_TOKEN" \\
        -d '{"sql": "SELECT count() FROM splitstream.requests"}'
    """
    from consumers import main as sink_main  # chDB loads slowly: only when the sink runs
    from consumers.errors import SinkError

    def ready(started: sink_main.Started) -> None:
        click.echo(
            f"{started.name} ready: {len(started.topics)} topics (group {started.group_id}) "
            f"into {started.clickhouse}; HTTP port {started.port}"
        )

    try:
        sink_main.run(SinkSettings.load(), on_ready=ready)
    except KafkaError as error:
        click.echo(f"error: Kafka: {error}", err=True)
        sys.exit(1)
    except SinkError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--param")
        params[name] = value
    return params


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "NULL"
    return str(value)


def _print_table(frame: pd.DataFrame) -> None:
    table = Table(*[str(c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console = Console()
    console.print(table)
    console.print(f"{len(frame)} row(s)", style="dim")


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [dict(zip(frame.columns, row, strict=True)) for row in clean.itertuples(index=False)]


@click.command()
@click.argument("sql")
@click.option(
    "--param",
    "-p",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Value of a {NAME:Type} placeholder in SQL; repeat for several.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people, csv or json for programs.",
)
def query(sql: str, param_pairs: tuple[str, ...], output: str) -> None:
    """Run one read-only SQL statement on the event tables and print the result.

    \b
    It goes to the running sink (which owns chDB's data) at SPLITSTREAM_SINK_PORT with
    SPLITSTREAM_QUERY_TOKEN, or to the server's read-only user when
    SPLITSTREAM_CLICKHOUSE_READER_URL is set. ClickHouse runs it read-only: writes, DDL,
    settings changes and table functions that reach outside the database are refused,
    and time, memory and result rows are limited. Only a single SELECT, WITH, SHOW
    TABLES or EXPLAIN is run. Tables live in database splitstream
    (SPLITSTREAM_CLICKHOUSE_DATABASE).

    \b
    Examples:
      splitstream query "SELECT variant, count() FROM splitstream.requests FINAL GROUP BY variant"
      splitstream query "SHOW TABLES FROM splitstream" --format csv
      splitstream query "SELECT * FROM splitstream.replies WHERE request_id = {id:String}" \\
        --param id=0b7d2a94-5c3e-4f1a-9d8b-000000000001 --format json
    """
    from clients.sink_query import open_clickhouse_reader
    from plumbing.errors import ClickHouseQueryError, SinkUnavailableError

    params = _params(param_pairs)
    reader = open_clickhouse_reader(get_settings())
    try:
        frame = reader.query_df(sql, params)
    except (ClickHouseQueryError, SinkUnavailableError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except Exception as error:  # a server's own error types: say what, never a traceback
        click.echo(f"error: ClickHouse: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    finally:
        reader.close()
    if output == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif output == "json":
        click.echo(json.dumps(_records(frame), default=_json_value, ensure_ascii=False))
    else:
        _print_table(frame)
