"""The train and trainer commands' help: what they do, exit codes, examples."""

from click.testing import CliRunner

from cli.train_commands import train, trainer


def test_train_help_documents_exit_codes_and_examples() -> None:
    result = CliRunner().invoke(train, ["--help"])
    assert result.exit_code == 0
    for text in ("0  published", "3  not published", "4  not published", "1  any other error"):
        assert text in result.output
    assert "splitstream train --algorithm ridge" in result.output
    assert "--slot [auto|best|candidate]" in result.output


def test_trainer_help_names_the_schedule_and_examples() -> None:
    result = CliRunner().invoke(trainer, ["--help"])
    assert result.exit_code == 0
    assert "0 3 * * 1" in result.output and "splitstream trainer --now" in result.output


def test_an_unknown_algorithm_is_bad_usage() -> None:
    result = CliRunner().invoke(train, ["--algorithm", "xgboost"])
    assert result.exit_code == 2
