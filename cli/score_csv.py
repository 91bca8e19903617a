"""The ``splitstream score`` CSV client: CSV rows in, one result row each out.

The rows go to the batch scorer and back through ``clients/scorer.py``.
"""

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clients.scorer import Progress, ScoreReport, score_requests
from plumbing.settings_kafka import KafkaSettings
from predictors.errors import DuplicateIdError
from schemas.serving_events import ScoreRequest

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("id", "variant", "model_version", "status", "price_lakhs", "error")
REQUIRED_COLUMNS = ("location", "total_sqft", "bath", "bhk")


@dataclass
class InputRows:
    """A CSV read for scoring: the rows to send, and the rows refused before sending."""

    requests: list[ScoreRequest] = field(default_factory=list)
    #: Every id in input order, sent or refused.
    order: list[str] = field(default_factory=list)
    #: id -> why the row was not sent.
    refused: dict[str, str] = field(default_factory=dict)


def read_rows(path: Path) -> InputRows:
    """Read ``id,location,total_sqft,bath,bhk[,key]``; a missing id is the row number (from 1).

    A row whose values do not parse or are out of the schema's range is refused (it
    is reported in the output, not sent).

    Raises:
        ValueError: a required column is missing.
        DuplicateIdError: two rows share an id.
    """
    rows = InputRows()
    seen: set[str] = set()
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        absent = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise ValueError(f"{path}: missing column(s) {', '.join(absent)}")
        for number, raw in enumerate(reader, start=1):
            row_id = (raw.get("id") or "").strip() or str(number)
            if row_id in seen:
                raise DuplicateIdError(f"{path}: id {row_id!r} appears twice (row {number})")
            seen.add(row_id)
            rows.order.append(row_id)
            try:
                rows.requests.append(_request(row_id, raw))
            except (ValueError, TypeError, ValidationError) as error:
                rows.refused[row_id] = _reason(error)
    return rows


def _request(row_id: str, raw: dict[str, Any]) -> ScoreRequest:
    key = (raw.get("key") or "").strip() or None
    return ScoreRequest.model_validate(
        {
            "id": row_id,
            "key": key,
            "location": (raw.get("location") or "").strip(),
            "total_sqft": float(raw["total_sqft"]),
            "bath": _integer(raw["bath"], "bath"),
            "bhk": _integer(raw["bhk"], "bhk"),
        }
    )


def _integer(text: str, name: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(f"{name}={text!r} is not a whole number")
    return int(value)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(error)


def write_results(
    path: Path, rows: InputRows, results: dict[str, dict[str, Any]], *, timeout_s: float
) -> None:
    """One output row per input row, in input order; refused and missing rows say why."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(OUTPUT_COLUMNS)
        for row_id in rows.order:
            writer.writerow(_output_row(row_id, rows, results, timeout_s))


def _output_row(
    row_id: str, rows: InputRows, results: dict[str, dict[str, Any]], timeout_s: float
) -> list[str]:
    if row_id in rows.refused:
        return [row_id, "", "", "error", "", f"invalid_input: {rows.refused[row_id]}"]
    result = results.get(row_id)
    if result is None:
        return [row_id, "", "", "missing", "", f"no result within {timeout_s:g} s"]
    error = result.get("error") or {}
    price = result.get("price_lakhs")
    return [
        row_id,
        str(result.get("variant") or ""),
        str(result.get("model_version") or ""),
        str(result.get("status") or ""),
        "" if price is None else f"{price:.2f}",
        f"{error.get('code')}: {error.get('message')}" if error else "",
    ]


def score_csv(
    settings: KafkaSettings,
    input_path: Path,
    output_path: Path,
    *,
    timeout_s: float,
    progress: Progress | None = None,
) -> ScoreReport:
    """Score every row of ``input_path`` and write ``output_path``.

    Raises:
        ValueError: the input lacks a required column.
        DuplicateIdError: two input rows share an id.
    """
    rows = read_rows(input_path)
    results, report = score_requests(
        settings, rows.requests, timeout_s=timeout_s, progress=progress
    )
    write_results(output_path, rows, results, timeout_s=timeout_s)
    return ScoreReport(
        report.sent,
        report.received,
        report.missing,
        len(rows.refused),
        report.duplicates,
        report.elapsed_s,
    )
