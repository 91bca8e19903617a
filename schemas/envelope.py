"""The envelope every Splitstream-produced event carries, and how a new event is built.

Models are strict (no "3" -> 3 coercion), frozen, and forbid unknown fields; integer fields
take integral floats (2.0, not 2.5), as JSON Schema's "integer" does. Every property is
required, nullable ones included (send null, never omit), except in ScoreRequest, which any
Kafka producer may write. Timestamps are aware UTC datetimes in Python and serialise (mode="json")
to the wire form 2026-11-27T02:11:58.123Z. Build new events with `Model.create(**fields)`, which
fills the envelope (event_id, event_type, schema_version, occurred_at).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self, get_args

from pydantic import BeforeValidator

from schemas.fields import (
    Contract,
    Timestamp,
    Uuid,
    whole_number,
)
from schemas.registry import new_event_envelope


class Event(Contract):
    """The envelope every Splitstream-produced event carries."""

    event_id: Uuid
    event_type: str
    schema_version: Annotated[Literal[1], BeforeValidator(whole_number)]
    occurred_at: Timestamp

    @classmethod
    def event_type_name(cls) -> str:
        return str(get_args(cls.model_fields["event_type"].annotation)[0])

    @classmethod
    def create(cls, **fields: Any) -> Self:
        """A new event: the envelope is generated, `fields` give the rest (and may override it)."""
        return cls.model_validate({**new_event_envelope(cls.event_type_name()), **fields})
