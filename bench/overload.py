"""Overload: 4x the maximum sustained rate for 30 s, on the full system.

Admission control should keep the system serving its maximum rate and refuse the rest at
once (503), never sink. Measured here: goodput, how fast refusals come back, the p99 of
the accepted requests, and that every accepted request reached ClickHouse.
"""

import base64
import json
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.environment import gateway_url
from bench.http_load import V1_PREDICT, Answer, HttpTarget, run_vegeta
from bench.results import percentile_ms
from cli.settings import Settings
from clients.sink_query import open_clickhouse_reader

log = logging.getLogger(__name__)

_URL = re.compile(r'"https?://[^"]*"')
_ADDRESS = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}:\d+")

OVERLOAD_FACTOR = 4
OVERLOAD_S = 30.0
#: The sink writes a batch at least every second; give it this long to catch up.
STORED_WAIT_S = 60.0
_STORED_SQL = """
SELECT DISTINCT request_id FROM {db}.requests WHERE occurred_at >= {{since:DateTime64(3, 'UTC')}}
"""


@dataclass(frozen=True)
class OverloadFindings:
    rate_per_s: float
    duration_s: float
    sent: int
    accepted: int
    refused: int
    #: Anything else: 504s, other statuses, connection errors.
    failed: int
    #: The commonest kinds of ``failed`` (a status or vegeta's error), with their counts.
    failed_kinds: tuple[tuple[str, int], ...]
    goodput_per_s: float
    refused_p99_ms: float
    refused_max_ms: float
    accepted_p99_ms: float
    accepted_stored: int


def sort_answers(
    answers: list[Answer], target: HttpTarget
) -> tuple[list[Answer], list[Answer], list[Answer]]:
    """Accepted (a valid reply), refused (503) and failed (anything else).

    vegeta also writes an error text for every non-2xx status ("503 Service
    Unavailable"), so a refusal is known by its status, not by an empty error.
    """
    accepted, refused, failed = [], [], []
    for a in answers:
        if not a.error and target.valid(a.status, a.body_b64):
            accepted.append(a)
        elif a.status == 503:
            refused.append(a)
        else:
            failed.append(a)
    return accepted, refused, failed


def failure_kinds(answers: list[Answer], top: int = 3) -> tuple[tuple[str, int], ...]:
    """The ``top`` commonest failures: vegeta's error text, or else the HTTP status."""
    kinds = Counter(error_kind(a.error) if a.error else f"HTTP {a.status}" for a in answers)
    return tuple(kinds.most_common(top))


def error_kind(error: str) -> str:
    """vegeta's error without what differs per request (the URL, the client's port), so
    equal failures count as one kind and the cause at the end is kept."""
    kind = _URL.sub('"…"', error)
    return _ADDRESS.sub("…", kind)[:120]


def _request_ids(answers: list[Answer], target: HttpTarget) -> set[str]:
    ids = set()
    for a in answers:
        if not a.error and target.valid(a.status, a.body_b64):
            ids.add(str(json.loads(base64.b64decode(a.body_b64))[target.id_field]))
    return ids


def stored_request_ids(settings: Settings, since: datetime) -> set[str]:
    """Request ids ClickHouse holds for requests that occurred after ``since``."""
    reader = open_clickhouse_reader(settings)
    try:
        frame = reader.query_df(
            _STORED_SQL.format(db=settings.clickhouse_database), {"since": since}
        )
    finally:
        reader.close()
    return {str(v) for v in frame["request_id"]}


def _wait_stored(settings: Settings, accepted: set[str], since: datetime) -> int:
    deadline = time.monotonic() + STORED_WAIT_S
    while True:
        found = len(accepted & stored_request_ids(settings, since))
        if found == len(accepted) or time.monotonic() > deadline:
            return found
        time.sleep(2.0)


def measure_overload(settings: Settings, max_sustained_per_s: float) -> OverloadFindings:
    """``OVERLOAD_FACTOR`` x ``max_sustained_per_s`` on ``/v1/predict`` for ``OVERLOAD_S``."""
    rate = OVERLOAD_FACTOR * max_sustained_per_s
    since = datetime.now(UTC) - timedelta(seconds=1)
    answers = run_vegeta(gateway_url(settings), V1_PREDICT, rate_per_s=rate, duration_s=OVERLOAD_S)
    accepted, refused, failed = sort_answers(answers, V1_PREDICT)
    first_ns = min((a.sent_ns for a in answers), default=0)
    last_ns = max((a.sent_ns + a.latency_ns for a in accepted), default=first_ns)
    span_s = max((last_ns - first_ns) / 1e9, 1e-9)
    accepted_ids = _request_ids(answers, V1_PREDICT)
    log.info("overload at %g/s: %d accepted, %d refused", rate, len(accepted), len(refused))
    return OverloadFindings(
        rate_per_s=rate,
        duration_s=OVERLOAD_S,
        sent=len(answers),
        accepted=len(accepted),
        refused=len(refused),
        failed=len(failed),
        failed_kinds=failure_kinds(failed),
        goodput_per_s=len(accepted) / span_s,
        refused_p99_ms=percentile_ms([a.latency_ns for a in refused], 0.99),
        refused_max_ms=max((a.latency_ns for a in refused), default=0) / 1e6,
        accepted_p99_ms=percentile_ms([a.latency_ns for a in accepted], 0.99),
        accepted_stored=_wait_stored(settings, accepted_ids, since),
    )
