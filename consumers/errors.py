"""Errors of the sink: why a message was rejected, why a query was refused."""

from typing import Literal

from plumbing.errors import SplitstreamError

#: The dead-letter record's error_type for each cause.
ErrorType = Literal["decode", "schema", "internal"]


class SinkError(SplitstreamError):
    """Root of every sink error."""


# --------------------------------------------------------------------------- rejected messages


class MessageRejectedError(SinkError):
    """A consumed message that cannot become a row; the sink dead-letters or skips it."""

    error_type: ErrorType = "schema"


class EmptyMessageError(MessageRejectedError):
    """The message has no value (a tombstone): nothing to store."""

    error_type: ErrorType = "decode"


class NotJsonError(MessageRejectedError):
    """The value is not UTF-8 JSON."""

    error_type: ErrorType = "decode"


class SchemaMismatchError(MessageRejectedError):
    """The JSON is not an event of its topic, or does not fit its table (names the field)."""

    error_type: ErrorType = "schema"


class UnexpectedMessageError(MessageRejectedError):
    """Turning the message into a row failed in a way no rule foresaw (a bug, not bad input)."""

    error_type: ErrorType = "internal"


# --------------------------------------------------------------------------- refused queries


class QueryRefusedError(SinkError):
    """A statement the query endpoint does not run: not a single read-only statement."""
