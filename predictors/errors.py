"""Errors of the predictor workers and the batch scorer.

The reasons a message is rejected are shared with the sink (plumbing/errors.py); the
missing reply address and the scoring client's duplicate ids are the predictors' own.
"""

from plumbing.errors import (
    EmptyMessageError,
    ErrorType,
    MessageRejectedError,
    NotJsonError,
    SchemaMismatchError,
)
from schemas.errors import SplitstreamError

__all__ = [
    "DuplicateIdError",
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


class DuplicateIdError(PredictorError, ValueError):
    """Two input rows share an id, so their results could not be told apart."""
