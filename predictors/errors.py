"""Errors of the predictor workers and the batch scorer.

The reasons a message is rejected are shared with the sink (plumbing.message_errors);
only the missing reply address is the predictors' own.
"""

from plumbing.errors import SplitstreamError
from plumbing.message_errors import (
    EmptyMessageError,
    ErrorType,
    MessageRejectedError,
    NotJsonError,
    SchemaMismatchError,
)

__all__ = [
    "EmptyMessageError",
    "ErrorType",
    "MessageRejectedError",
    "MissingReplyAddressError",
    "NotJsonError",
    "PredictorError",
    "SchemaMismatchError",
]


class PredictorError(SplitstreamError):
    """Root of the predictors' own errors."""


class MissingReplyAddressError(MessageRejectedError):
    """A request names no usable reply address, so no reply could ever reach its sender."""

    error_type: ErrorType = "missing_header"
