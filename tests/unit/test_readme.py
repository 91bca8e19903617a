"""The README says what the code does."""

from cli.settings_doc import BEGIN, END, settings_table
from plumbing.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_readme_configuration_table_matches_the_settings_object() -> None:
    documented = README.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table()


def test_readme_opens_with_the_run_and_test_commands() -> None:
    first_block = README.split("```", 2)[1]
    assert "make demo" in first_block and "make test" in first_block
