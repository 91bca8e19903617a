"""``splitstream simulate``: each repeated test's false alarm rate and power, simulated."""

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cli.settings import get_settings
from promoter.errors import PolicyError
from promoter.false_alarms import TOLERANCE, FalseAlarmTable, false_alarm_table
from promoter.policy import load_policy

#: Exit code when a test's false alarm rate is above its level plus one point.
EXIT_OUT_OF_BOUND = 1


@click.command()
@click.option(
    "--experiments",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Simulated experiments per figure (with no effect, and with one).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every draw.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy TOML file. Default: SPLITSTREAM_PROMOTER_POLICY_FILE (promoter/policy.toml).",
)
def simulate(experiments: int, seed: int, policy_file: Path | None) -> None:
    """Simulate every test the promoter repeats at each evaluation, and print a table.

    \b
    Each test is looked at after every batch of requests or feedback, as the promoter
    looks at every evaluation (continuous monitoring):
      - the split test (SRM), at a constant share and through a 5% -> 20% -> 50% ramp;
      - the error-rate and p95 latency guardrails, at exactly their margins;
      - the MAE rule, unpaired and on shadow pairs (absolute errors lognormal with this
        data's mean 25 lakhs and sd 55; paired differences with a third of that sd).
    With no effect, the share of experiments that ever flag is the false alarm rate:
    it must stay within the test's level plus one point. With the stated effect, it is
    the power, and the median requests (or feedback) it took. Deterministic for --seed.
    Exits 1 when a false alarm rate is out of its bound.

    \b
    Examples:
      splitstream simulate
      splitstream simulate --experiments 2000 --seed 7
      splitstream simulate --policy strict.toml
    """
    try:
        policy = load_policy(policy_file or get_settings().promoter_policy_file)
    except PolicyError as error:
        raise click.ClickException(str(error)) from error
    with Console(stderr=True).status(f"simulating {experiments:,} experiments per figure"):
        table = false_alarm_table(policy, seed=seed, experiments=experiments)
    console = Console() if sys.stdout.isatty() else Console(width=240)
    console.print(_table(table))
    if not table.all_within_bound:
        console.print("[red]a false alarm rate is above its level plus one point[/red]")
        sys.exit(EXIT_OUT_OF_BOUND)


def _table(table: FalseAlarmTable) -> Table:
    title = (
        f"{table.experiments:,} simulated experiments per figure, seed {table.seed}, "
        "continuous monitoring"
    )
    out = Table(
        "test",
        "looks",
        "no effect",
        "false alarms",
        f"bound (level + {TOLERANCE:.0%})",
        "ok",
        "effect",
        "power",
        "median to detect",
        title=title,
    )
    for row in table.rows:
        median = row.median_to_detect
        out.add_row(
            row.test,
            row.looks,
            row.null,
            f"{row.false_alarm_rate:.1%}",
            f"{row.bound:.1%}",
            "yes" if row.within_bound else "[red]NO[/red]",
            row.effect,
            f"{row.power:.1%}",
            "-" if median is None else f"{median:,.0f} {row.unit}",
        )
    return out
