"""Errors of the sink: why a message was rejected, why a query was refused.

The reasons a message is rejected are shared with the predictors
(plumbing.message_errors); the query refusal is the sink's own.
"""

from plumbing.errors import SplitstreamError
from plumbing.message_errors import (
    EmptyMessageError,
    ErrorType,
    MessageRejectedError,
    NotJsonError,
    SchemaMismatchError,
    UnexpectedMessageError,
)

__all__ = [
    "EmptyMessageError",
    "ErrorType",
    "MessageRejectedError",
    "NotJsonError",
    "QueryRefusedError",
    "SchemaMismatchError",
    "SinkError",
    "UnexpectedMessageError",
]


class SinkError(SplitstreamError):
    """Root of the sink's own errors."""


# --------------------------------------------------------------------------- refused queries


class QueryRefusedError(SinkError):
    """A statement the query endpoint does not run: not a single read-only statement."""
