"""Why a consumed message was rejected, for every consumer that dead-letters.

Each error carries the dead-letter record's ``error_type``. ``decode_json`` is the one
way a consumer turns a message value into JSON, so every consumer words a bad value
the same way. orjson reads it (several times faster); the standard json module decides
only what orjson refuses (NaN, lone surrogates, a BOM...), so what is accepted is what
``json.loads`` accepts. One difference: orjson reads an integer beyond 64 bits as a
float. No column holds one and the schemas' checks treat both alike (a schema integer
accepts an integral float), so only such a number inside a free-form object (stored as
JSON text) is kept as a float.
"""

import json
from typing import Any, Literal

import orjson

from plumbing.errors import SplitstreamError

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


def decode_json(value: bytes | None) -> Any:
    """The JSON value of a message.

    Raises:
        EmptyMessageError: the message has no value (a tombstone).
        NotJsonError: the value is not UTF-8 JSON, or nested too deeply.
    """
    if value is None:
        raise EmptyMessageError("message has no value (tombstone)")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        pass  # json decides, and words the reason: it accepts what orjson refuses (NaN, ...)
    try:
        return json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotJsonError(f"not UTF-8 JSON: {error}") from error
    except RecursionError:  # json.loads recurses once per level: "[[[[..." exhausts the stack
        raise NotJsonError("not usable JSON: nested too deeply") from None
