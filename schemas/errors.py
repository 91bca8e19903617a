"""Errors of the contracts: an event that does not match its schema."""

from plumbing.errors import SplitstreamError


class ContractError(SplitstreamError):
    """Root of the contracts' errors."""


class EventValidationError(ContractError, ValueError):
    """An event does not match its schema. `path` is the dotted field path ("$" is the root)."""

    def __init__(self, event_type: str | None, path: str, message: str) -> None:
        self.event_type = event_type
        self.path = path
        self.message = message
        super().__init__(f"{event_type or '<unknown event_type>'}: {path}: {message}")
