"""Print a chaos run: the verdict on each invariant, the raw duplicates, the restarts."""

from rich.console import Console
from rich.table import Table

from chaos.cluster_run import ClusterChaosReport
from chaos.invariants import Invariant
from chaos.run import ChaosReport


def _print_verdicts(console: Console, title: str, invariants: list[Invariant]) -> None:
    verdicts = Table(title=title, show_lines=True)
    verdicts.add_column("invariant")
    verdicts.add_column("holds")
    verdicts.add_column("counts")
    for invariant in invariants:
        mark = "[green]yes[/green]" if invariant.holds else "[red]NO[/red]"
        verdicts.add_row(invariant.name, mark, invariant.counts)
    console.print(verdicts)


def print_cluster_report(console: Console, report: ClusterChaosReport) -> None:
    """The cluster run: verdicts (each kill's stretch and losses among them), duplicates."""
    _print_verdicts(console, "Chaos invariants, three-node Kafka cluster", report.invariants)
    console.print("Raw duplicates (collapsed by ReplacingMergeTree and the views, not lost):")
    for kind, count in report.duplicates.items():
        console.print(f"  {kind}: {count}")
    verdict = "[green]all invariants hold[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(f"chaos (cluster): {verdict}")


def print_report(console: Console, report: ChaosReport) -> None:
    _print_verdicts(console, "Chaos invariants", report.invariants)
    console.print("Raw duplicates (collapsed by ReplacingMergeTree and the views, not lost):")
    for kind, count in report.duplicates.items():
        console.print(f"  {kind}: {count}")
    for restart in report.restarts:
        console.print(
            f"  {restart.victim} (pid {restart.pid}) killed, answering again after "
            f"{restart.ready_after_s:.1f} s"
        )
    for kill in report.promoter_kills:
        console.print(
            f"  promoter killed at {kill.failpoint} during {kill.action}: generation "
            f"{kill.generation_before} -> {kill.generation_after}, completed "
            f"{kill.recovered_in_s:.1f} s after the restart, acked by {len(kill.acked)}"
        )
    verdict = "[green]all invariants hold[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(f"chaos: {verdict}")
