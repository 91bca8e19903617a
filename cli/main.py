"""The ``splitstream`` command: one entry point, one subcommand group per concern."""

import click

from cli.stack_commands import stack


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Splitstream: serve a model through Kafka, A/B-test a candidate, promote on evidence.

    \b
    Exit codes:
      0  success
      1  a service or command failed (the message says which, and where its log is)
      2  bad usage
    """


main.add_command(stack)
