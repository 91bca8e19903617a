"""The ``splitstream`` command: one entry point, one subcommand per job."""

import click

from cli.gateway_commands import gateway
from cli.predictor_commands import predictor, score
from cli.run_commands import demo, up
from cli.stack_commands import stack
from cli.train_commands import train, trainer


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (up, demo, stack, train, trainer, predictor, gateway, score):
    main.add_command(command)
