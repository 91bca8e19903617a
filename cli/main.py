"""The ``splitstream`` command: one entry point, one subcommand per job.

Subcommands are imported only when they run: a predictor process should not pay for
importing MLflow, nor the gateway for scikit-learn.
"""

import importlib

import click

#: Subcommand name -> "module:attribute" of its click command.
COMMANDS = {
    "up": "cli.run_commands:up",
    "demo": "cli.run_commands:demo",
    "stack": "cli.stack_commands:stack",
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


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (the pattern of click's docs)."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self._lazy]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._lazy:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self._lazy[cmd_name].split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return command


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """Splitstream: serve a model through Kafka, A/B-test a candidate, promote on evidence.

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
    """
