"""What the demo prints when a step fails: which of its services are no longer running,
and how each one's log ends, so a failed run says why without its state folder."""

from rich.console import Console

from cli.settings import Settings
from stack import local
from stack.log_tail import log_tail


def print_stopped_services(settings: Settings, console: Console) -> None:
    """Each service of the stack that is not running, with the end of its log."""
    for service in local.status(settings):
        if service.state == "running":
            continue
        console.print(f"  {service.name} is {service.state}; the end of {service.log_file}:")
        for line in log_tail(service.log_file):
            console.print(f"    {line}", markup=False, highlight=False)
