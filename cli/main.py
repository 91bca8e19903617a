"""The ``splitstream`` command: one entry point, one subcommand per job.

Subcommands are imported only when they run: a predictor process should not pay for
importing MLflow, nor the gateway for scikit-learn. ``splitstream --help`` imports none
of them: it lists the one-line summaries kept here.
"""

import importlib
from typing import Any

import click

#: Subcommand name -> "module:attribute" of its click command.
COMMANDS = {
    "up": "cli.run_commands:up",
    "demo": "cli.run_commands:demo",
    "stack": "cli.stack_commands:stack",
    "status": "cli.status_command:status",
    "train": "cli.train_commands:train",
    "trainer": "cli.train_commands:trainer",
    "predictor": "cli.predictor_commands:predictor",
    "gateway": "cli.gateway_commands:gateway",
    "score": "cli.predictor_commands:score",
    "promoter": "cli.promoter_commands:promoter",
    "promote": "cli.promoter_commands:promote",
    "reject": "cli.promoter_commands:reject",
    "rollback": "cli.promoter_commands:rollback",
    "pause": "cli.promoter_commands:pause",
    "resume": "cli.promoter_commands:resume",
    "replay": "cli.replay_command:replay",
    "simulate": "cli.simulate_command:simulate",
    "report": "cli.report_command:report",
    "sink": "cli.sink_commands:sink",
    "query": "cli.sink_commands:query",
}

#: Subcommand name -> the first sentence of its help, shown by ``splitstream --help``
#: without importing the command (tests/unit/test_cli_help.py keeps the two equal).
SUMMARIES = {
    "up": "Start the local stack and every Splitstream service, then return.",
    "demo": "Run the whole system and its A/B loop: stack, services, models, decisions.",
    "stack": "Start, stop and inspect the local stack (state in SPLITSTREAM_STATE_DIR).",
    "status": "Show the stack's and the services' state, and the routing slots.",
    "train": "Train once: load and clean the data, choose a model, publish it if it passes "
    "the gate.",
    "trainer": "Train on a schedule (APScheduler): every SPLITSTREAM_TRAIN_CRON, read in UTC.",
    "predictor": "Run one predictor worker; start several per slot to share the load.",
    "gateway": "Serve predictions over HTTP through Kafka, with the A/B split.",
    "score": "Score a CSV of listings through Kafka (score.requests -> score.results).",
    "promoter": "Run the promoter: decide on evidence, swap slots, broadcast, record in the "
    "ledger.",
    "promote": "Promote the candidate to best now (the old best is kept for rollback).",
    "reject": "Reject the candidate: empty its slot; all traffic goes to prod.",
    "rollback": "Roll best back to the previous best version.",
    "pause": "Pause the promoter's automatic decisions (commands still work).",
    "resume": "Resume the promoter's automatic decisions.",
    "replay": "Replay the promoter's ledger: check S3 against it, repair S3, or try a policy.",
    "simulate": "Simulate every test the promoter repeats at each evaluation, and print a table.",
    "report": "Print the A/B summary of an experiment: prod against the candidate.",
    "sink": "Store every topic's events in ClickHouse, and answer read-only SQL.",
    "query": "Run one read-only SQL statement on the event tables and print the result.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (the pattern of click's docs)."""

    def __init__(
        self, *args: Any, lazy: dict[str, str], summaries: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy
        self._summaries = summaries

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self._lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self._lazy[cmd_name].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands from their summaries, importing none of them."""
        rows = [(name, self._summaries.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    summaries=SUMMARIES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """Splitstream: serve a model through Kafka, A/B-test a candidate, promote on evidence.

    Every subcommand has --help, with examples: splitstream COMMAND --help.

    \b
    Exit codes:
      0  success
      1  a service or command failed (the message says which, and where its log is)
      2  bad usage
      3  the trainer's gate refused the model: test R² below the floor
      4  the trainer's gate refused the model: worse than the best model
      5  promote/reject/rollback/pause/resume: conflict, the slots moved on
      6  promote/reject/rollback/pause/resume: refused, nothing to act on
      7  replay --verify: S3's routing object differs from the ledger
      8  the trainer published nothing: the model is already in a slot (unchanged)
      9  the trainer's gate refused the model: it answers a price <= 0 somewhere
    """
