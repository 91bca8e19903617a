"""``splitstream --help`` lists every subcommand; each one's help has examples; exit codes agree.

The top-level help runs the real entry point once, as a subprocess; the per-command checks run
in-process with click's CliRunner, so the file takes seconds.
"""

import importlib
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import COMMANDS, SUMMARIES, main
from cli.settings import get_settings
from plumbing.model_store import Slots, SlotStore, SlotsVersion
from plumbing.settings import ENV_PREFIX, PROJECT_ROOT
from promoter import ledger
from promoter.ledger import slots_json
from promoter.shares import share_change
from schemas.decision_events import LedgerRecord
from stack import local
from stack.supervisor import ServiceStatus

#: The subcommands the issue asks `splitstream --help` to list, and two it keeps.
REQUIRED = (
    "up", "demo", "stack", "train", "trainer", "predictor", "gateway", "sink", "promoter",
    "score", "query", "report", "promote", "reject", "rollback", "replay", "simulate", "status",
    "pause", "resume",
)  # fmt: skip
STACK_SUBCOMMANDS = ("install", "up", "users", "down", "status")
EXIT_CODES = set(range(10))


def _command(name: str) -> click.Command:
    module_name, attribute = COMMANDS[name].split(":")
    command: click.Command = getattr(importlib.import_module(module_name), attribute)
    return command


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(main, [*args, "--help"], prog_name="splitstream")
    assert result.exit_code == 0, result.output
    return result.output


def _examples(help_text: str) -> list[str]:
    """The lines of the help's Examples: block, comments cut off."""
    block = help_text.split("Examples:", 1)[1].split("\n\n", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def _main_exit_codes() -> dict[int, str]:
    block = main.help.split("Exit codes:", 1)[1]
    return {
        int(code): text.strip() for code, text in re.findall(r"^\s+(\d)\s{2}(.+)$", block, re.M)
    }


def _readme_exit_codes() -> dict[int, str]:
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d)\s*\|\s*(.+?)\s*\|$", section, re.M)
    return {int(code): text for code, text in rows}


def test_top_level_help_of_the_entry_point_lists_every_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("Commands:", 1)[1]
    missing = [name for name in REQUIRED if not re.search(rf"^  {name}\s", listed, re.M)]
    assert not missing, f"not in `splitstream --help`: {missing}"


def test_commands_map_covers_the_issues_list_and_has_a_summary_each() -> None:
    assert set(REQUIRED) <= set(COMMANDS)
    assert set(SUMMARIES) == set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_summary_is_the_first_sentence_of_the_commands_help(name: str) -> None:
    assert SUMMARIES[name] == _command(name).get_short_help_str(limit=1_000)


@pytest.mark.parametrize(
    "args", [[name] for name in COMMANDS] + [["stack", sub] for sub in STACK_SUBCOMMANDS]
)
def test_every_subcommand_help_has_usage_and_examples(args: list[str]) -> None:
    output = _help(args)

    assert "Usage:" in output and "Examples:" in output
    assert _examples(output), "the Examples: block is empty"


def test_stack_subcommands_are_the_ones_checked() -> None:
    stack = _command("stack")
    assert isinstance(stack, click.Group)
    assert set(stack.commands) == set(STACK_SUBCOMMANDS)


@pytest.mark.parametrize(
    "args", [[name] for name in COMMANDS] + [["stack", sub] for sub in STACK_SUBCOMMANDS]
)
def test_examples_use_only_options_and_settings_that_exist(args: list[str]) -> None:
    command: click.Command = main
    for name in args:
        assert isinstance(command, click.Group)
        command = command.get_command(click.Context(command), name)  # type: ignore[assignment]
    options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    settings = {ENV_PREFIX + f.upper() for f in type(get_settings()).model_fields}
    for line in _examples(_help(args)):
        if line.startswith("curl"):
            continue  # the options are curl's, not ours
        unknown_options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line)) - options
        assert not unknown_options, f"{line!r}: no such option"
        unknown_settings = set(re.findall(rf"{ENV_PREFIX}[A-Z0-9_]+", line)) - settings
        assert not unknown_settings, f"{line!r}: no such setting"


def test_exit_codes_in_the_help_cover_0_to_9_and_match_the_readme() -> None:
    documented = _main_exit_codes()

    assert set(documented) == EXIT_CODES
    assert documented == _readme_exit_codes()


def test_top_level_help_shows_the_exit_codes() -> None:
    output = _help([])

    for code, meaning in _main_exit_codes().items():
        assert f"{code}  {meaning}" in output


# --------------------------------------------------------------------------- splitstream status


def _running(name: str) -> ServiceStatus:
    return ServiceStatus(name=name, state="running", pid=1, ports=[1], log_file=Path("x.log"))


def test_status_exits_1_and_says_the_slots_are_unknown_when_the_stack_is_stopped() -> None:
    # Given the fresh state folder of conftest.py: nothing was started
    result = CliRunner().invoke(main, ["status"])

    assert result.exit_code == 1
    assert "kafka" in result.output and "stopped" in result.output
    assert "slots: unknown (the local S3 is not running)" in result.output


def test_status_exits_0_when_every_service_runs_even_if_s3_refuses_to_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given every service running, and an S3 that fails on read
    monkeypatch.setattr(local, "status", lambda _s: [_running("s3"), _running("kafka")])

    def refuse(_self: SlotStore) -> None:
        raise ConnectionError("S3 is on fire")

    monkeypatch.setattr(SlotStore, "read", refuse)

    result = CliRunner().invoke(main, ["status"])

    assert result.exit_code == 0, result.output
    assert "slots: unknown" in result.output and "ConnectionError: S3 is on fire" in result.output


def test_status_prints_the_slots_when_s3_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "status", lambda _s: [_running("s3")])
    found = SlotsVersion(Slots(best="m-1", candidate="m-2", generation=3), etag='"e"')
    monkeypatch.setattr(SlotStore, "read", lambda _self: found)

    result = CliRunner().invoke(main, ["status"])

    assert result.exit_code == 0, result.output
    assert "slots: best=m-1 candidate=m-2 previous_best=None generation=3" in result.output


def test_status_shows_the_watch_with_its_share_start_and_queued_candidate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the slots of a watch (m-1 held back beside m-2) and the ledger that says so
    monkeypatch.setattr(local, "status", lambda _s: [_running("s3")])
    watching = Slots(best="m-2", candidate="m-1", previous_best="m-1", generation=4)
    monkeypatch.setattr(SlotStore, "read", lambda _self: SlotsVersion(watching, etag='"e"'))
    started = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    records = [
        _ledger(
            0,
            "promote",
            watching,
            {
                "share_change": share_change(0.2, 0.1, started),
                "watch": {"experiment_id": "exp-1:watch-g4:m-1", "started_at": started.isoformat()},
            },
        ),
        _ledger(1, "publish", watching, {"model_version": "m-3", "queued": True}),
    ]
    monkeypatch.setattr(ledger, "read_ledger", lambda _settings, timeout_s: records)

    result = CliRunner().invoke(main, ["status"])

    assert result.exit_code == 0, result.output
    assert (
        "watch: m-2 is watched beside the previous best m-1, held back at 10% since "
        "2026-01-01 12:00:00 UTC; candidate queued behind the watch: m-3"
    ) in " ".join(result.output.split())


def _ledger(sequence: int, action: str, slots: Slots, inputs: dict[str, object]) -> LedgerRecord:
    return LedgerRecord.create(
        sequence=sequence,
        experiment_id=None,
        action=action,
        actor={"kind": "policy", "name": "promoter"},
        reasons=["r"],
        inputs=inputs,
        statistics={},
        thresholds={},
        slots_before=slots_json(slots),
        slots_after=slots_json(slots),
        etag_before=None,
        etag_after=None,
        missing_acks=[],
    )


def test_up_help_names_every_service_it_starts() -> None:
    from stack.services import APP_SERVICES

    text = _help(["up"])
    for name, _ in APP_SERVICES:
        assert re.search(rf"^\s+{re.escape(name)}\s{{2,}}\S", text, re.M), name
    assert "prometheus" in text
