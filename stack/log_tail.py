"""The end of a service's log: what a failure report shows, as the state folder holding the
log may be gone by the time anyone reads it."""

from pathlib import Path

LOG_LINES = 20
_TAIL_BYTES = 64 * 1024


def log_tail(path: Path, lines: int = LOG_LINES) -> list[str]:
    """The last ``lines`` lines of ``path`` (none when it is missing)."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]
