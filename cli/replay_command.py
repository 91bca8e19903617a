"""``splitstream replay``: check S3 against the ledger, repair it, or try a new policy."""

import getpass
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from plumbing import kafka
from plumbing.clickhouse import open_clickhouse_reader
from plumbing.model_store import SlotStore
from plumbing.s3 import s3_client
from plumbing.settings import Settings, get_settings
from promoter.ledger import Ledger, read_ledger
from promoter.policy import load_policy
from promoter.replay import Verification, dry_run, restore, verify
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
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Policy file for --dry-run [default: SPLITSTREAM_PROMOTER_POLICY_FILE].",
)
def replay(mode: str, policy_file: Path | None) -> None:
    """Replay the promoter's ledger: check S3 against it, repair S3, or try a policy.

    \b
    --verify   rebuild the expected slots from the ledger and compare them with S3
               (exit 7 when they differ; the problems are listed);
    --restore  rewrite S3's routing object to the ledger's state, broadcast the
               reload and record a `restore` in the ledger;
    --dry-run  re-run a proposed policy over the recorded history in ClickHouse
               and print what it would have decided beside what was decided.

    \b
    Examples:
      splitstream replay --verify
      splitstream replay --restore
      splitstream replay --dry-run --policy strict.toml
    """
    settings = get_settings().with_default_kafka_role("operator")
    if mode == "dry-run":
        _dry_run(settings, policy_file or settings.promoter_policy_file)
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


def _dry_run(settings: Settings, policy_file: Path) -> None:
    policy = load_policy(policy_file)
    clickhouse = open_clickhouse_reader(settings)
    try:
        with progress_console.status("reading the ledger from Kafka") as spinner:
            records = read_ledger(settings)
            spinner.update(f"re-deciding {len(records):,} ledger records with {policy_file}")
            rows = dry_run(records, clickhouse, settings, policy)
    finally:
        clickhouse.close()
    table = Table("seq", "at", "experiment", "recorded", "proposed", "why (proposed)")
    for row in rows:
        changed = "" if row.recorded == row.proposed else "[yellow]"
        table.add_row(
            str(row.sequence),
            row.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.experiment_id,
            row.recorded,
            f"{changed}{row.proposed}",
            "; ".join(row.reasons),
        )
    console.print(table)
    console.print(f"{sum(r.recorded != r.proposed for r in rows)} of {len(rows)} decisions differ")
