"""``splitstream stack``: the local Kafka, S3, MLflow and ClickHouse (chDB)."""

import sys
from collections.abc import Callable
from typing import TypeVar

import click
from kafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from cli.settings import Settings, get_settings
from schemas.errors import SplitstreamError
from stack import kafka_access, local
from stack.errors import StackError

T = TypeVar("T")


@click.group()
def stack() -> None:
    """Start, stop and inspect the local stack (state in SPLITSTREAM_STATE_DIR).

    \b
    Examples:
      splitstream stack up
      splitstream stack status
      SPLITSTREAM_KAFKA_PORT=19092 splitstream stack up
      splitstream stack down
    """


@stack.command()
def install() -> None:
    """Fetch the Kafka and S3 server jars through Maven (skipped when present).

    \b
    `splitstream stack up` does this too; run it alone to fetch ahead of time.
    The jars go to SPLITSTREAM_LIB_DIR (default: .splitstream/lib in the checkout).

    \b
    Examples:
      splitstream stack install
      SPLITSTREAM_LIB_DIR=/opt/splitstream/lib splitstream stack install
    """
    _run(local.install)
    click.echo("installed")


@stack.command()
def up() -> None:
    """Start every local service and return once each answers.

    \b
    Examples:
      splitstream stack up
      splitstream stack up && splitstream stack status
      SPLITSTREAM_KAFKA_PORT=19092 splitstream stack up
    """
    settings = _run(local.up)
    print_status(settings)


@stack.command()
def users() -> None:
    """Create or update the Kafka SCRAM user of every principal whose password is set.

    \b
    `splitstream stack up` does this for its own broker. Against an existing cluster (or
    Compose's broker) it logs in as the admin principal (SPLITSTREAM_KAFKA_PASSWORD_ADMIN)
    and sets one user per SPLITSTREAM_KAFKA_PASSWORD_<ROLE> it is given. The README's
    "Kafka principals" section lists them.

    \b
    Examples:
      splitstream stack users
      SPLITSTREAM_KAFKA_BOOTSTRAP_SERVERS=kafka:9094 SPLITSTREAM_KAFKA_SASL_MECHANISM=PLAIN \\
        splitstream stack users
    """
    names = _run(kafka_users)
    click.echo(f"SCRAM users: {', '.join(names) if names else 'none (no passwords set)'}")


def kafka_users(settings: Settings) -> list[str]:
    """The stack's ensure_users, with a Kafka error as a stack error (exit 1, no traceback)."""
    try:
        return kafka_access.ensure_users(settings)
    except (KafkaError, SplitstreamError) as error:
        raise StackError(f"kafka at {settings.kafka_bootstrap}: {error}") from error


@stack.command()
def down() -> None:
    """Stop every local service; data stays in the state folder.

    \b
    It stops Splitstream's own services (those `splitstream up` started) too,
    before the stack.

    \b
    Examples:
      splitstream stack down
      splitstream stack down && splitstream stack status    # exits 1: all stopped
    """
    stopped = _run(local.down)
    click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@stack.command()
def status() -> None:
    """Show each service's state, port and log file. Exits 1 unless all run.

    \b
    `splitstream status` shows the same, and the routing slots as well.

    \b
    Examples:
      splitstream stack status
      splitstream stack status > status.txt || echo "a service is down"
    """
    exit_unless_all_run(print_status(get_settings()))


def _run(action: Callable[[Settings], T]) -> T:
    """Run a stack action; a stack error exits 1 with its message, not a traceback."""
    try:
        return action(get_settings())
    except StackError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


def exit_unless_all_run(statuses: list[local.ServiceStatus]) -> None:
    """Exit 1 when a service is not running (stopped, or dead with its pid file left)."""
    if any(s.state != "running" for s in statuses):
        sys.exit(1)


def print_status(settings: Settings) -> list[local.ServiceStatus]:
    """Print the table of services (state, pid, port, log file) and return their states."""
    statuses = local.status(settings)
    table = Table("service", "state", "pid", "port", "log file")
    for s in statuses:
        ports = ", ".join(str(p) for p in s.ports)
        table.add_row(s.name, s.state, str(s.pid or "-"), ports, str(s.log_file))
    for name, where in local.external_services(settings):
        table.add_row(name, "external", "-", "-", where)
    # Wide when piped, so paths are never cut short in logs and scripts.
    console = Console() if sys.stdout.isatty() else Console(width=250)
    console.print(table)
    return statuses
