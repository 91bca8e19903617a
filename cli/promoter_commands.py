"""``splitstream promoter`` and the operator's commands: promote, reject, rollback, pause, resume.

Operator commands go to the active promoter over Kafka and wait for its answer, so
they take the same swap and land in the same ledger as the policy's decisions.
"""

import getpass
import json
import logging
import sys

import click
from rich.console import Console

from cli.settings import get_settings
from clients.promoter_commands import CommandAction, send_command
from plumbing.errors import PromoterUnavailableError
from promoter.settings import AgentSettings, PromoterSettings

console = Console()

#: Exit codes of the operator commands (also listed in `splitstream --help`).
EXIT_CONFLICT = 5
EXIT_REFUSED = 6


@click.command()
@click.option(
    "--windows",
    is_flag=True,
    help="Run the Faust stream agent (window counts and triggers) instead of the decider.",
)
@click.option(
    "--log-level",
    type=click.Choice(["error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def promoter(windows: bool, log_level: str) -> None:
    """Run the promoter: decide on evidence, swap slots, broadcast, record in the ledger.

    \b
    Start two for a standby: one partition of model.events means one is active, the
    other takes over within a session timeout. The policy comes from
    SPLITSTREAM_PROMOTER_POLICY_FILE (default promoter/policy.toml).
    With --windows it runs the Faust agent instead: hopping-window counts per
    experiment and variant, and an experiment.trigger when the candidate crosses
    the trigger (default 100 requests in 24 h); its counts are at /counts/.

    \b
    Examples:
      splitstream promoter
      splitstream promoter --windows
      SPLITSTREAM_PROMOTER_POLICY_FILE=strict.toml splitstream promoter
    """
    if windows:
        from promoter import agent_main  # Faust's imports are heavy

        agent_main.run(AgentSettings.load())
    from promoter import main as promoter_main  # heavy imports

    promoter_main.run(PromoterSettings.load(), log_level=logging.getLevelName(log_level.upper()))


def _operator_command(action: CommandAction, summary: str, example: str) -> click.Command:
    @click.option("--reason", required=True, help="Why; it goes into the ledger.")
    @click.option(
        "--operator",
        default=getpass.getuser,
        show_default="your user name",
        help="Who asks; recorded as the actor.",
    )
    @click.option(
        "--expected-generation",
        type=int,
        default=None,
        help="Act only if the routing object is still at this generation (else exit 5).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the promoter's answer as JSON.")
    def command(reason: str, operator: str, expected_generation: int | None, as_json: bool) -> None:
        try:
            result = send_command(
                get_settings().with_default_kafka_role("operator"),
                action=action,
                operator=operator,
                reason=reason,
                expected_generation=expected_generation,
            )
        except PromoterUnavailableError as error:
            raise click.ClickException(str(error)) from error
        if as_json:
            click.echo(json.dumps(result.model_dump(mode="json")))
        else:
            slots = result.slots
            console.print(f"{action}: {result.outcome} — {result.message}")
            console.print(
                f"slots: best={slots.best} candidate={slots.candidate} "
                f"previous_best={slots.previous_best} generation={slots.generation}"
            )
        codes = {"done": 0, "conflict": EXIT_CONFLICT, "refused": EXIT_REFUSED}
        sys.exit(codes[result.outcome])

    command.__doc__ = f"""{summary}

    \b
    Goes through the active promoter (it must be running): the same swap, reload
    broadcast and ledger record as the policy's own decisions, with you as the actor.
    Exit codes: 0 done, 1 no promoter answered, 5 conflict (the slots moved on),
    6 refused (e.g. nothing to {action}).

    \b
    Examples:
      {example}
      splitstream {action} --reason "..." --expected-generation 7 --json
    """
    return click.command(name=action)(command)


promote = _operator_command(
    "promote",
    "Promote the candidate to best now (the old best is kept for rollback).",
    'splitstream promote --reason "looks good on the dashboard"',
)
reject = _operator_command(
    "reject",
    "Reject the candidate: empty its slot; all traffic goes to prod.",
    'splitstream reject --reason "drift on total_sqft"',
)
rollback = _operator_command(
    "rollback",
    "Roll best back to the previous best version.",
    'splitstream rollback --reason "complaints since the promotion"',
)
pause = _operator_command(
    "pause",
    "Pause the promoter's automatic decisions (commands still work).",
    'splitstream pause --reason "data incident"',
)
resume = _operator_command(
    "resume",
    "Resume the promoter's automatic decisions.",
    'splitstream resume --reason "incident over"',
)
