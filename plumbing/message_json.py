"""``decode_json``: the one way a consumer turns a message value into JSON.

Every consumer words a bad value the same way (the errors, with the dead-letter
record's ``error_type``, are in plumbing/errors.py). orjson reads it (several times
faster); the standard json module decides only what orjson refuses (NaN, lone
surrogates, a BOM...), so what is accepted is what ``json.loads`` accepts. One
difference: orjson reads an integer beyond 64 bits as a float. No column holds one and
the schemas' checks treat both alike (a schema integer accepts an integral float), so
only such a number inside a free-form object (stored as JSON text) is kept as a float.
"""

import json
from typing import Any

import orjson

from plumbing.errors import EmptyMessageError, NotJsonError


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
