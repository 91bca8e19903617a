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
    """
