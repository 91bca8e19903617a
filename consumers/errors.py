"""Errors of the sink: why a message was rejected, why a query was refused.

The reasons a message is rejected are shared with the predictors (plumbing/errors.py);
the unserved feedback and the query refusal are the sink's own.
"""

from plumbing.errors import (
    EmptyMessageError,
    ErrorType,
    MessageRejectedError,
    NotJsonError,
    SchemaMismatchError,
    UnexpectedMessageError,
)
from schemas.errors import SplitstreamError

__all__ = [
    "EmptyMessageError",
    "ErrorType",
    "MessageRejectedError",
    "NotJsonError",
    "QueryRefusedError",
    "SchemaMismatchError",
    "SinkError",
    "UnexpectedMessageError",
    "UnservedRequestError",
]


class SinkError(SplitstreamError):
    """Root of the sink's own errors."""


# --------------------------------------------------------------------------- rejected messages


class UnservedRequestError(MessageRejectedError):
    """Feedback for a request id that no gateway minted."""

    error_type: ErrorType = "schema"


# --------------------------------------------------------------------------- refused queries


class QueryRefusedError(SinkError):
    """A statement the query endpoint does not run: not a single read-only statement."""
