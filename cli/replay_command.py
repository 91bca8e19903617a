"""``splitstream replay``: check S3 against the ledger, repair it, or try a new policy."""

import getpass
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cli.settings import Settings, get_settings
from clients.ledger_reader import read_ledger
from clients.sink_query import open_clickhouse_reader
from plumbing import kafka
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from promoter.backtest import BacktestRow, FirstDecision, backtest
from promoter.errors import PolicyError
from promoter.ledger import Ledger
from promoter.policy import load_policy
from promoter.replay import Verification, restore, verify
from promoter.swap import SlotSwap

console = Console()
#: Spinners go to stderr, so piped output stays clean.
progress_console = Console(stderr=True)

#: Exit code of ``--verify`` when S3 and the ledger disagree.
EXIT_MISMATCH = 7


@click.command()
@click.option(
    "--verify", "mode", flag_value="verify", default=True, help="Compare S3 with the ledger."
)
@click.option("--restore", "mode", flag_value="restore", help="Rewrite S3 to the ledger's state.")
@click.option("--dry-run", "mode", flag_value="dry-run", help="Re-decide with --policy.")
@click.option(
    "--policy",
    "policy_files",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Policy file for --dry-run (repeatable: each is tried) "
    "[default: SPLITSTREAM_PROMOTER_POLICY_FILE].",
)
@click.option(
    "--every",
    "every_s",
    type=click.FloatRange(min=0.1),
    default=None,
    help="--dry-run: seconds between two evaluations "
    "[default: SPLITSTREAM_PROMOTER_EVALUATE_EVERY_S].",
)
def replay(mode: str, policy_files: tuple[Path, ...], every_s: float | None) -> None:
    """Replay the promoter's ledger: check S3 against it, repair S3, or try a policy.

    \b
    --verify   rebuild the expected slots from the ledger and compare them with S3
               (exit 7 when they differ; the problems are listed);
    --restore  rewrite S3's routing object to the ledger's state, broadcast the
               reload and record a `restore` in the ledger;
    --dry-run  a point-in-time backtest: for every experiment and watch in the
               ledger, evaluate each --policy at every evaluation interval from its
               start to its end, on only the evidence that existed at that moment
               (every table cut at it, late feedback included), and print each
               policy's first decision and when, beside what the ledger recorded.

    \b
    Examples:
      splitstream replay --verify
      splitstream replay --restore
      splitstream replay --dry-run --policy strict.toml
      splitstream replay --dry-run --policy strict.toml --policy loose.toml --every 10
    """
    settings = get_settings().with_default_kafka_role("operator")
    if mode == "dry-run":
        files = policy_files or (settings.promoter_policy_file,)
        every = every_s or settings.promoter_evaluate_every_s
        _dry_run(settings, files, timedelta(seconds=every))
        return
    verification = _verification(settings)
    if mode == "verify":
        _print_verification(verification)
        sys.exit(0 if verification.ok else EXIT_MISMATCH)
    # A restore acts as the promoter: it broadcasts the reload and appends to the ledger,
    # which only the promoter's principal may write.
    _restore(settings.as_kafka_role("promoter"), verification)


def _verification(settings: Settings) -> Verification:
    with progress_console.status("reading the ledger from Kafka"):
        records = read_ledger(settings)
    return verify(records, SlotStore(s3_client(settings), settings.s3_bucket).read())


def _print_verification(verification: Verification) -> None:
    console.print(f"ledger expects: {verification.expected}")
    console.print(f"S3 holds:       {verification.actual.slots if verification.actual else None}")
    if verification.ok:
        console.print("[green]ok[/green]: S3 matches the ledger")
    for problem in verification.problems:
        console.print(f"[red]mismatch[/red]: {problem}")


def _restore(settings: Settings, verification: Verification) -> None:
    if verification.ok:
        console.print("nothing to restore: S3 matches the ledger")
        return
    slots = SlotStore(s3_client(settings), settings.s3_bucket)
    restored = restore(slots, verification)
    producer = kafka.producer(settings, client_id="replay")
    try:
        broadcast = SlotSwap(settings, slots, producer).broadcast(restored, "restore from ledger")
        Ledger(settings, producer, read_ledger(settings)).append(
            action="restore",
            actor={"kind": "replay", "name": getpass.getuser()},
            reasons=verification.problems,
            experiment_id=None,
            before=verification.actual,
            after=restored,
            inputs={"found": str(verification.actual.slots) if verification.actual else None},
            missing_acks=broadcast.missing,
        )
    finally:
        producer.close(timeout=5)
    console.print(f"[green]restored[/green]: {restored.slots}")


def _dry_run(settings: Settings, files: tuple[Path, ...], every: timedelta) -> None:
    try:
        policies = {file.name: load_policy(file) for file in files}
    except PolicyError as error:
        raise click.ClickException(str(error)) from error
    clickhouse = open_clickhouse_reader(settings)
    try:
        with progress_console.status("reading the ledger from Kafka") as spinner:
            records = read_ledger(settings)
            spinner.update(f"evaluating {len(policies)} policies every {every.total_seconds():g} s")
            rows = backtest(
                records,
                policies,
                clickhouse=clickhouse,
                database=settings.clickhouse_database,
                prefix=settings.experiment_id,
                default_share=settings.candidate_share,
                every=every,
                until=datetime.now(UTC),
            )
    finally:
        clickhouse.close()
    wide = console if sys.stdout.isatty() else Console(width=300)  # pipes get whole lines
    wide.print(_backtest_table(rows, list(policies), every))


def _backtest_table(rows: list[BacktestRow], names: list[str], every: timedelta) -> Table:
    table = Table(
        "experiment",
        "started",
        "recorded",
        *names,
        title=f"first decision of each policy, evaluated every {every.total_seconds():g} s "
        "on the evidence of each moment",
    )
    for row in rows:
        span = row.span
        if span.ended_at is None:
            recorded = "running"
        else:
            recorded = (
                f"{span.ended_by} by {span.ended_actor} at {_after(span.started_at, span.ended_at)}"
            )
        table.add_row(
            f"{span.experiment_id} ({span.kind})",
            span.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            recorded,
            *(_first(row.decisions[name], span.started_at) for name in names),
        )
    return table


def _first(found: FirstDecision, start: datetime) -> str:
    if found.action is None or found.at is None:
        return f"waits ({found.evaluations} evaluations)"
    return f"{found.action} at {_after(start, found.at)} ({found.evaluations} evaluations)"


def _after(start: datetime, moment: datetime) -> str:
    return f"+{(moment - start).total_seconds():.0f} s"
