"""Errors of the shared plumbing, under SplitstreamError (``schemas/errors.py``), the root of
every Splitstream error.

Each package keeps its errors in its own ``errors.py``, every class under
``SplitstreamError``; a class that replaces a builtin error inherits it too, so an
``except ValueError`` that caught it still does.
"""

from typing import Literal

from schemas.errors import SplitstreamError


class SlotConflictError(SplitstreamError):
    """A conditional S3 write lost: the object changed (If-Match) or exists (If-None-Match)."""


class ModelNotFoundError(SplitstreamError):
    """A model version, or one of its files, is not in the store."""


class ModelIntegrityError(SplitstreamError):
    """A model file's sha256 differs from its manifest; it was not unpickled."""


class SplitWriteError(SplitstreamError):
    """The candidate share could not be stored in S3."""


class PromoterUnavailableError(SplitstreamError):
    """No promoter answered a command in time (none is running, or it is stuck)."""


class ModelSignatureError(ModelIntegrityError):
    """A model's manifest is unsigned, or its signature fails the configured public key."""


class KafkaCredentialsError(SplitstreamError):
    """SASL is on, but this process has no Kafka principal or no password for it."""


class ClickHouseQueryError(SplitstreamError):
    """A query was refused or failed; the message says why (as ClickHouse or the sink put it)."""


class SinkUnavailableError(SplitstreamError):
    """The sink's query endpoint did not answer: the sink is not running or not reachable."""


# --------------------------------------------------------------------------- rejected messages

#: The dead-letter record's error_type for each cause.
ErrorType = Literal["decode", "schema", "missing_header", "internal"]


class MessageRejectedError(SplitstreamError):
    """A consumed message that cannot be handled; the consumer dead-letters or skips it."""

    error_type: ErrorType = "schema"


class EmptyMessageError(MessageRejectedError):
    """The message has no value (a tombstone): nothing to answer or store."""

    error_type: ErrorType = "decode"


class NotJsonError(MessageRejectedError):
    """The value is not UTF-8 JSON."""

    error_type: ErrorType = "decode"


class SchemaMismatchError(MessageRejectedError):
    """The JSON does not match its event schema, or its table (the message names the field)."""

    error_type: ErrorType = "schema"


class UnexpectedMessageError(MessageRejectedError):
    """Handling the message failed in a way no rule foresaw (a bug, not bad input)."""

    error_type: ErrorType = "internal"
