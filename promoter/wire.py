"""The stream agent's own messages and table values: compact JSON arrays, read back strictly.

Its internal topics carry one message per batch, not per event:

- ``<app>-pane-deltas`` (key: ``experiment_id/variant``): one arm's increments,
  ``[experiment_id, variant, [[pane_start_s, requests, errors, latency_ms_sum,
  abs_error_sum, feedback_count], ...]]``;
- ``<app>-join-halves`` (one message per partition): ``[[request_id, "r", experiment_id,
  variant, price_lakhs] | [request_id, "f", actual_price_lakhs, at_s], ...]``.

A join-table value is a half without its request id, plus the Unix second it was stored.
Anything else raises ``ValueError``, so a stray message is logged and skipped.
"""

from __future__ import annotations

from typing import Any

import orjson

from promoter.tally import FeedbackHalf, Half, PaneDeltas, ReplyHalf
from promoter.windows import Arm, WindowCounts


def arm_key(arm: Arm) -> bytes:
    """The message key of an arm's deltas (experiment ids hold no ``/``)."""
    return f"{arm.experiment_id}/{arm.variant}".encode()


def encode_pane_deltas(arm: Arm, panes: PaneDeltas) -> bytes:
    rows = [[pane, *counts.values()] for pane, counts in sorted(panes.items())]
    return orjson.dumps([arm.experiment_id, arm.variant, rows])


def decode_pane_deltas(raw: bytes | None) -> tuple[Arm, PaneDeltas]:
    try:
        experiment_id, variant, rows = orjson.loads(raw or b"")
        panes = {int(row[0]): _counts(row[1:]) for row in rows}
        return Arm(str(experiment_id), str(variant)), panes
    except (TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"not a pane-deltas message: {exc}") from None


def _counts(values: list[Any]) -> WindowCounts:
    if len(values) != len(WindowCounts.measures()):
        raise ValueError(f"expected {len(WindowCounts.measures())} measures")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError("measures must be numbers")
    return WindowCounts(*values)


def _half_row(half: Half) -> list[Any]:
    if isinstance(half, ReplyHalf):
        return ["r", half.experiment_id, half.variant, half.price_lakhs]
    return ["f", half.actual_price_lakhs, half.at_s]


def _half_of(row: list[Any]) -> Half:
    kind, *fields = row
    if kind == "r":
        experiment_id, variant, price = fields
        return ReplyHalf(str(experiment_id), str(variant), float(price))
    if kind == "f":
        actual, at_s = fields
        return FeedbackHalf(float(actual), float(at_s))
    raise ValueError(f"unknown half kind {kind!r:.20}")


def encode_halves(halves: list[tuple[str, Half]]) -> bytes:
    return orjson.dumps([[request_id, *_half_row(half)] for request_id, half in halves])


def decode_halves(raw: bytes | None) -> list[tuple[str, Half]]:
    try:
        return [(str(row[0]), _half_of(row[1:])) for row in orjson.loads(raw or b"")]
    except (TypeError, IndexError, ValueError) as exc:
        raise ValueError(f"not a join-halves message: {exc}") from None


def stored_half(half: Half, stored_at_s: float) -> list[Any]:
    """The join table's value for ``half``."""
    return [*_half_row(half), stored_at_s]


def half_stored(value: list[Any]) -> tuple[Half, float]:
    """``(half, stored_at_s)`` of a join-table value."""
    return _half_of(value[:-1]), float(value[-1])
