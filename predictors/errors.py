"""Errors of the predictor workers and the batch scorer."""

from typing import Literal

from plumbing.errors import SplitstreamError

ErrorType = Literal["decode", "schema", "missing_header"]


class PredictorError(SplitstreamError):
    """Root of every predictor error."""


# --------------------------------------------------------------------------- rejected messages


class MessageRejectedError(PredictorError):
    """A consumed message that cannot be handled; dead_letters.decide says what happens to it."""

    error_type: ErrorType = "schema"


class EmptyMessageError(MessageRejectedError):
    """The message has no value (a tombstone); there is nothing to answer."""

    error_type: ErrorType = "decode"


class NotJsonError(MessageRejectedError):
    """The value is not UTF-8 JSON."""

    error_type: ErrorType = "decode"


class SchemaMismatchError(MessageRejectedError):
    """The JSON does not match its event schema (the message names the field)."""

    error_type: ErrorType = "schema"


class MissingReplyAddressError(MessageRejectedError):
    """A request names no usable reply address, so no reply could ever reach its sender."""

    error_type: ErrorType = "missing_header"
