"""The ``splitstream score`` client: CSV rows to score.requests, score.results back to CSV.

It listens on score.results from the end BEFORE producing, keeps only the ids it
sent (others may share the topic), and stops when every id is back or at the timeout.
"""

import csv
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from pydantic import ValidationError

from plumbing import kafka
from plumbing.settings_kafka import KafkaSettings
from schemas.models import ScoreRequest

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("id", "variant", "model_version", "status", "price_lakhs", "error")
REQUIRED_COLUMNS = ("location", "total_sqft", "bath", "bhk")
SEND_TIMEOUT_S = 60.0
#: Bulk upload: let the producer fill batches for a few ms (latency does not matter here).
BULK_LINGER_MS = 5

#: Told the row count first ("total", n), then as rows go out ("sent", n) and results
#: come back ("received", n).
Progress = Callable[[str, int], None]


class DuplicateIdError(ValueError):
    """Two input rows share an id, so their results could not be told apart."""


@dataclass
class InputRows:
    """A CSV read for scoring: the rows to send, and the rows refused before sending."""

    requests: list[ScoreRequest] = field(default_factory=list)
    #: Every id in input order, sent or refused.
    order: list[str] = field(default_factory=list)
    #: id -> why the row was not sent.
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreReport:
    """How a ``score`` run went."""

    sent: int
    received: int
    missing: list[str]
    refused: int
    duplicates: int
    elapsed_s: float

    @property
    def rows_per_s(self) -> float:
        """Results received per second, from the first row sent to the last result."""
        return self.received / self.elapsed_s if self.elapsed_s > 0 else 0.0


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


def results_consumer(settings: KafkaSettings, topic: str) -> KafkaConsumer:
    """A group-less consumer on every partition of ``topic``, positioned at its end now."""
    consumer = kafka.consumer(settings, group_id=None, max_poll_records=5000)
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        consumer.close()
        raise ValueError(f"topic {topic} does not exist")
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_end(*assigned)
    for tp in assigned:
        consumer.position(tp)  # resolve the end now, before anything is produced
    return consumer


def score_requests(
    settings: KafkaSettings,
    requests: Sequence[ScoreRequest],
    *,
    timeout_s: float,
    progress: Progress | None = None,
) -> tuple[dict[str, dict[str, Any]], ScoreReport]:
    """Produce ``requests`` to score.requests and collect their score.results.

    Returns:
        The result event of each id that came back, and the report.
    """
    notify = progress or (lambda stage, n: None)
    notify("total", len(requests))
    wanted = {r.id for r in requests}
    results: dict[str, dict[str, Any]] = {}
    duplicates = 0
    consumer = results_consumer(settings, settings.topic("score_results").name)
    try:
        started = time.perf_counter()
        produce_requests(settings, requests, notify)
        deadline = time.monotonic() + timeout_s
        while len(results) < len(wanted) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    result = _result(record.value)
                    row_id = result.get("id") if result is not None else None
                    if result is None or row_id not in wanted:
                        continue  # someone else's result
                    if row_id in results:
                        duplicates += 1  # redelivered after a scorer restart
                        continue
                    results[row_id] = result
                    notify("received", 1)
        elapsed = time.perf_counter() - started
    finally:
        consumer.close()
    missing = [r.id for r in requests if r.id not in results]
    report = ScoreReport(len(requests), len(results), missing, 0, duplicates, elapsed)
    return results, report


def produce_requests(
    settings: KafkaSettings, requests: Sequence[ScoreRequest], notify: Progress
) -> None:
    producer = kafka.producer(settings, linger_ms=BULK_LINGER_MS)
    topic = settings.topic("score_requests").name
    try:
        futures = []
        for request in requests:
            value = request.model_dump(mode="json", exclude_none=True)
            futures.append(producer.send(topic, key=request.id, value=value))
            if len(futures) % 500 == 0:
                notify("sent", 500)
        producer.flush(timeout=SEND_TIMEOUT_S)
        for future in futures:
            future.get(timeout=SEND_TIMEOUT_S)
        notify("sent", len(futures) % 500)
    finally:
        producer.close()


def _result(value: bytes | None) -> dict[str, Any] | None:
    try:
        obj = json.loads(value) if value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


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
