"""A poison message set aside: where it came from, why, and its payload."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from schemas.envelope import Event
from schemas.fields import NonNegativeInt, PredictorId


class DeadletterRecord(Event):
    event_type: Literal["deadletter.record"]
    source_topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    source_partition: NonNegativeInt
    source_offset: NonNegativeInt
    consumer: PredictorId
    reason: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    error_type: Literal["decode", "schema", "domain", "missing_header", "too_large", "internal"]
    payload: Annotated[str, StringConstraints(max_length=87384)]
    payload_encoding: Literal["utf-8", "base64"]
    payload_truncated: bool
    payload_bytes: NonNegativeInt
    headers: dict[str, str]
