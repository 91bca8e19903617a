"""Flatten events into table rows, following the schemas (the sink's column mapping).

Nested objects with declared properties become columns: features.* and timings.* lose their
prefix, reply_to.* becomes reply_*, any other object <name>.<field> becomes <name>_<field>
(the schema's `x-column-prefix` says which). Free-form objects (metrics, inputs, statistics,
thresholds, headers) stay one column holding JSON text; arrays stay arrays.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from schemas.registry import ENVELOPE_FIELDS, event_schema, schema_registry

if TYPE_CHECKING:
    from referencing._core import Resolver  # not re-exported at top level


@dataclass(frozen=True)
class FlatColumn:
    """One column of an event's flattened form."""

    name: str
    path: tuple[str, ...]  # property path in the event, e.g. ("features", "total_sqft")
    nullable: bool  # null allowed here (or in an enclosing object)


Node = Mapping[str, Any]


def _resolve(node: Node, resolver: Resolver) -> tuple[Node, Resolver]:
    """Follow $ref chains; returns the target node and the resolver for its document."""
    while "$ref" in node:
        resolved = resolver.lookup(node["$ref"])
        node, resolver = resolved.contents, resolved.resolver
    return node, resolver


def _branches(node: Node, resolver: Resolver) -> Iterator[tuple[Node, Resolver]]:
    node, resolver = _resolve(node, resolver)
    for branch in node.get("anyOf", [node]):
        yield _resolve(branch, resolver)


def _allows_null(node: Node, resolver: Resolver) -> bool:
    for target, _ in _branches(node, resolver):
        types = target.get("type")
        if types == "null" or (isinstance(types, list) and "null" in types):
            return True
        if None in target.get("enum", ()):
            return True
    return False


def _structured_object(node: Node, resolver: Resolver) -> tuple[Node, Resolver] | None:
    """The object schema with declared properties behind `node` (looking through anyOf-null)."""
    for target, target_resolver in _branches(node, resolver):
        if target.get("type") == "object" and "properties" in target:
            return target, target_resolver
    return None


def _columns(
    schema: Node, resolver: Resolver, prefix: str, path: tuple[str, ...], nullable: bool
) -> Iterator[FlatColumn]:
    for name, prop in schema.get("properties", {}).items():
        here = nullable or _allows_null(prop, resolver)
        obj = _structured_object(prop, resolver)
        if obj is None:
            yield FlatColumn(prefix + name, (*path, name), here)
            continue
        target, target_resolver = obj
        child_prefix = prop.get("x-column-prefix", target.get("x-column-prefix", f"{name}_"))
        yield from _columns(target, target_resolver, prefix + child_prefix, (*path, name), here)


@cache
def _flat_columns(event_type: str) -> tuple[FlatColumn, ...]:
    schema = event_schema(event_type)
    resolver = schema_registry().resolver(base_uri=schema["$id"])
    return tuple(_columns(schema, resolver, "", (), False))


def flat_columns(event_type: str) -> list[FlatColumn]:
    """Every column of `event_type` after flattening, in schema order."""
    return list(_flat_columns(event_type))


def flat_properties(event_type: str) -> list[str]:
    """Column names of `event_type` after flattening, in schema order."""
    return [c.name for c in _flat_columns(event_type)]


def _json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def flatten_event(event: Mapping[str, Any], event_type: str | None = None) -> dict[str, Any]:
    """The event as one flat row keyed by column name.

    Nested objects are flattened (a null object gives null leaves, a missing field gives None),
    free-form objects are serialised to compact JSON text with sorted keys.
    """
    event_type = event_type or str(event.get("event_type"))
    return {column.name: value_at(event, column.path) for column in _flat_columns(event_type)}


def value_at(event: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The flattened value at ``path`` (a FlatColumn's): None where the path is missing,
    compact JSON text with sorted keys for a free-form object."""
    value: Any = event
    for part in path:
        value = value.get(part) if isinstance(value, dict | Mapping) else None
    return _json_text(value) if isinstance(value, dict | Mapping) else value


def column_values(events: Iterable[Mapping[str, Any]], path: tuple[str, ...]) -> list[Any]:
    """``value_at(event, path)`` of many events (decoded JSON), one column at a time."""
    if len(path) == 1:
        (key,) = path
        values = [event.get(key) for event in events]
    elif len(path) == 2:
        outer, inner = path
        values = [
            nested.get(inner) if isinstance(nested := event.get(outer), dict) else None
            for event in events
        ]
    else:
        return [value_at(event, path) for event in events]
    if dict in set(map(type, values)):  # a free-form object: JSON text
        return [_json_text(value) if isinstance(value, dict) else value for value in values]
    return values


def event_body(event: Mapping[str, Any]) -> str:
    """JSON text of everything but the envelope: the `payload` column of payload-layout tables
    (model_events), so envelope columns + payload reconstruct the event losslessly."""
    return _json_text({k: v for k, v in event.items() if k not in ENVELOPE_FIELDS})
