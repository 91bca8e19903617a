"""``splitstream simulate``: what a promotion policy does on synthetic feedback streams."""

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from plumbing.settings import get_settings
from promoter.policy import PolicyError, load_policy
from promoter.simulate import DEFAULT_BATCH, DEFAULT_HORIZON, SimulationFigures, simulate_policy


@click.command()
@click.option(
    "--experiments",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Simulated experiments per figure.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every draw.")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Policy TOML file. Default: SPLITSTREAM_PROMOTER_POLICY_FILE (promoter/policy.toml).",
)
@click.option(
    "--paired/--unpaired",
    default=False,
    show_default=True,
    help="Shadow-scored pairs, or feedback on routed requests only.",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    help="Feedback per experiment (pairs when paired) before the maximum duration rejects "
    f"it. Default: {DEFAULT_HORIZON['unpaired']:,} unpaired, {DEFAULT_HORIZON['paired']:,} "
    "paired.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    help="Feedback between two checks of the policy. Default: "
    f"{DEFAULT_BATCH['unpaired']} unpaired, {DEFAULT_BATCH['paired']} paired.",
)
@click.option(
    "--srm-requests",
    type=click.IntRange(min=1),
    multiple=True,
    default=(1_000, 10_000, 50_000),
    show_default=True,
    help="Traffic volume(s) at which to test the split check (repeatable).",
)
def simulate(
    experiments: int,
    seed: int,
    policy_file: Path | None,
    paired: bool,
    horizon: int | None,
    batch: int | None,
    srm_requests: tuple[int, ...],
) -> None:
    """Run the promotion policy on synthetic feedback and print three figures.

    \b
    Absolute errors are lognormal with this data's mean (25 lakhs) and sd (55); paired
    differences have a third of that sd. Each experiment is checked after every batch
    (continuous monitoring) until it decides or reaches the horizon, where it is rejected.
    The figures are:
      - false promotions when the candidate equals prod;
      - promotions of a candidate whose MAE is 10% lower, and the feedback they took;
      - how often a 21% candidate share against a planned 20% trips the split check.
    Deterministic for a given --seed.

    \b
    Examples:
      splitstream simulate
      splitstream simulate --paired
      splitstream simulate --experiments 2000 --seed 7 --policy strict.toml
      splitstream simulate --horizon 20000 --srm-requests 100000
    """
    try:
        policy = load_policy(policy_file or get_settings().promoter_policy_file)
    except PolicyError as error:
        raise click.ClickException(str(error)) from error
    with Console(stderr=True).status(f"simulating {experiments:,} experiments per figure"):
        figures = simulate_policy(
            policy,
            seed=seed,
            experiments=experiments,
            paired=paired,
            horizon=horizon,
            batch=batch,
            srm_requests=srm_requests,
        )
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(_table(figures, alpha=policy.alpha, srm_p=policy.srm_p_threshold))


def _table(figures: SimulationFigures, *, alpha: float, srm_p: float) -> Table:
    unit = "pairs" if figures.paired else "feedback events (both arms)"
    monitoring = (
        f"{'paired' if figures.paired else 'unpaired'}; checked every {figures.batch:,} "
        f"{unit} up to {figures.horizon:,}"
    )
    if not figures.paired:
        monitoring += f"; candidate share {figures.candidate_share:.0%}"
    title = f"{figures.experiments:,} simulated experiments per figure, seed {figures.seed}"
    table = Table("figure", "value", "set-up", title=title)
    table.add_row(
        "false promotions, candidate = prod",
        f"{figures.false_promotion_rate:.1%}",
        f"alpha = {alpha:g}; {monitoring}",
    )
    table.add_row(
        f"promotions, candidate MAE {figures.improvement:.0%} lower",
        f"{figures.better_promotion_rate:.1%}",
        monitoring,
    )
    median = figures.better_median_samples
    table.add_row(
        "  median feedback to promotion",
        "none promoted" if median is None else f"{median:,.0f} {unit}",
        "",
    )
    for requests, rate in figures.srm_flag_rates.items():
        table.add_row(
            f"split flagged at {requests:,} requests",
            f"{rate:.1%}",
            f"true candidate share {figures.srm_observed_share:.0%}, planned "
            f"{figures.candidate_share:.0%}; chi-square p < {srm_p:g}",
        )
    return table
