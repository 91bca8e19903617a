"""``splitstream status``: the stack's and the services' state, and the routing slots."""

import click
from rich.console import Console

from cli.settings import Settings, get_settings
from cli.stack_commands import exit_unless_all_run, print_status
from stack.supervisor import ServiceStatus


@click.command()
def status() -> None:
    """Show the stack's and the services' state, and the routing slots.

    \b
    The table is the one `splitstream stack status` prints: each service's state,
    pid, port and log file. Below it, the routing slots from S3's control/slots.json
    (best, candidate, previous best and generation) when S3 answers; when it does
    not, the slots are reported unknown and that alone is not an error.
    Exits 1 when a service is not running, like `splitstream stack status`.

    \b
    Examples:
      splitstream status
      splitstream status || splitstream up      # start what is down
      SPLITSTREAM_STATE_DIR=/srv/splitstream splitstream status
    """
    settings = get_settings()
    statuses = print_status(settings)
    click.echo(_slots_line(settings, statuses))
    exit_unless_all_run(statuses)


def _slots_line(settings: Settings, statuses: list[ServiceStatus]) -> str:
    """One line on the routing slots; S3 being down or refusing is reported, never raised."""
    if any(s.name == "s3" and s.state != "running" for s in statuses):
        return "slots: unknown (the local S3 is not running)"
    from plumbing.model_store import SlotStore  # boto3 only when S3 may answer
    from plumbing.s3 import s3_client

    try:
        with Console(stderr=True).status("reading the routing slots from S3"):
            found = SlotStore(s3_client(settings), settings.s3_bucket).read()
    except Exception as error:  # any S3 or transport failure: status still shows the rest
        return f"slots: unknown (S3 at {settings.s3_endpoint}: {type(error).__name__}: {error})"
    if found is None:
        return "slots: none yet (no model was published)"
    slots = found.slots
    line = (
        f"slots: best={slots.best} candidate={slots.candidate} "
        f"previous_best={slots.previous_best} generation={slots.generation}"
    )
    if slots.holdback is not None:
        line += "\n" + _watch_line(settings, slots.best, slots.holdback)
    return line


def _watch_line(settings: Settings, best: str | None, holdback: str) -> str:
    """The watch as the ledger describes it; S3 alone says only that one runs."""
    head = f"watch: {best} is watched beside the previous best {holdback}, held back"
    from promoter.ledger import read_ledger  # Kafka only when a watch runs
    from promoter.state import PromoterState

    try:
        with Console(stderr=True).status("reading the promoter's ledger"):
            records = read_ledger(settings, timeout_s=5.0)
    except Exception as error:  # Kafka down or slow: the slots line still stands
        return f"{head}; the ledger could not be read ({type(error).__name__})"
    state = PromoterState.from_ledger(records, default_share=settings.candidate_share)
    since = state.watch.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if state.watch else "?"
    share = f"{state.current_share:.0%}"
    queued = state.queued or "none"
    return f"{head} at {share} since {since}; candidate queued behind the watch: {queued}"
