"""The root of every Splitstream error, and the contracts' own: an event that does not
match its schema.

The root lives here, in the bottom layer, because every package may import ``schemas``
and ``schemas`` imports no other package.
"""


class SplitstreamError(Exception):
    """Root of every Splitstream error."""


class ContractError(SplitstreamError):
    """Root of the contracts' errors."""


class EventValidationError(ContractError, ValueError):
    """An event does not match its schema. `path` is the dotted field path ("$" is the root)."""

    def __init__(self, event_type: str | None, path: str, message: str) -> None:
        self.event_type = event_type
        self.path = path
        self.message = message
        super().__init__(f"{event_type or '<unknown event_type>'}: {path}: {message}")
