"""What the demo prints when a step fails: which of its services are no longer running,
and how each one's log ends, so a failed run says why without its state folder."""

from pathlib import Path

from rich.console import Console

from cli.settings import Settings
from stack import local

LOG_LINES = 20
_TAIL_BYTES = 64 * 1024


def print_stopped_services(settings: Settings, console: Console) -> None:
    """Each service of the stack that is not running, with the end of its log."""
    for service in local.status(settings):
        if service.state == "running":
            continue
        console.print(f"  {service.name} is {service.state}; the end of {service.log_file}:")
        for line in log_tail(service.log_file):
            console.print(f"    {line}", markup=False, highlight=False)


def log_tail(path: Path, lines: int = LOG_LINES) -> list[str]:
    """The last ``lines`` lines of ``path`` (none when it is missing)."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
