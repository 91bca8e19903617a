"""Open-loop HTTP load with vegeta: requests leave on a fixed schedule whatever the answers do.

vegeta's own report rounds nothing away, but it neither checks bodies nor gives p99.9;
so its results are re-read as CSV (nanosecond latencies, bodies) and every reply is
validated before its latency counts.
"""

import base64
import binascii
import csv
import io
import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.results import RatePoint

#: Installed by `make bench` (pinned in the Makefile).
VEGETA = Path(__file__).resolve().parent.parent / ".splitstream" / "tools" / "bin" / "vegeta"
#: A reply later than this is an error, not a latency.
REQUEST_TIMEOUT_S = 5
REQUEST_BODY = {"location": "1st Block Jayanagar", "total_sqft": 1000, "bath": 2, "bhk": 2}


def _json_object(body_b64: str) -> dict[str, Any] | None:
    try:
        body = json.loads(base64.b64decode(body_b64))
    except (ValueError, binascii.Error):
        return None
    return body if isinstance(body, dict) else None


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def valid_prediction(status: int, body_b64: str) -> bool:
    """A 200 whose JSON body carries a positive ``price_lakhs`` (``/v1/predict``)."""
    body = _json_object(body_b64) if status == 200 else None
    return body is not None and _positive(body.get("price_lakhs"))


def valid_legacy_prediction(status: int, body_b64: str) -> bool:
    """A 200 whose JSON body carries a positive ``estimated_price`` (the old form API)."""
    body = _json_object(body_b64) if status == 200 else None
    return body is not None and _positive(body.get("estimated_price"))


@dataclass(frozen=True)
class HttpTarget:
    """One endpoint under load: what is sent, and what counts as a valid answer."""

    name: str
    path: str
    body: bytes
    content_type: str
    valid: Callable[[int, str], bool]
    #: The JSON field of an answer that holds the request id.
    id_field: str


V1_PREDICT = HttpTarget(
    "v1",
    "/v1/predict",
    json.dumps(REQUEST_BODY).encode(),
    "application/json",
    valid_prediction,
    "request_id",
)
LEGACY_PREDICT = HttpTarget(
    "legacy",
    "/api/predict_home_price",
    urlencode(REQUEST_BODY).encode(),
    "application/x-www-form-urlencoded",
    valid_legacy_prediction,
    "prediction_id",
)


@dataclass(frozen=True)
class Answer:
    """One request of a vegeta run, as its CSV encoding gives it."""

    sent_ns: int
    status: int
    latency_ns: int
    error: str
    body_b64: str


def answers_from_csv(text: str) -> Iterator[Answer]:
    """Each request of vegeta's CSV encoding (see ``vegeta encode -h``)."""
    for fields in csv.reader(io.StringIO(text)):
        if fields:
            yield Answer(int(fields[0]), int(fields[1]), int(fields[2]), fields[5], fields[6])


def point_from_csv(
    text: str, *, rate_per_s: float, valid: Callable[[int, str], bool] = valid_prediction
) -> RatePoint:
    """The latencies of the valid replies in vegeta's CSV encoding."""
    return point_from_answers(list(answers_from_csv(text)), rate_per_s=rate_per_s, valid=valid)


def point_from_answers(
    answers: list[Answer], *, rate_per_s: float, valid: Callable[[int, str], bool]
) -> RatePoint:
    latencies_ns = [a.latency_ns for a in answers if not a.error and valid(a.status, a.body_b64)]
    first_send_ns = min((a.sent_ns for a in answers), default=0)
    last_answer_ns = max((a.sent_ns + a.latency_ns for a in answers), default=0)
    span_s = (last_answer_ns - first_send_ns) / 1e9 if answers else 0.0
    return RatePoint.from_latencies(
        rate_per_s=rate_per_s, sent=len(answers), latencies_ns=latencies_ns, span_s=span_s
    )


def run_vegeta(
    base_url: str, target: HttpTarget, *, rate_per_s: float, duration_s: float
) -> list[Answer]:
    """Every answer of ``rate_per_s`` requests a second to ``target`` for ``duration_s``."""
    with tempfile.TemporaryDirectory(prefix="splitstream-bench-") as folder:
        body = Path(folder) / "body"
        body.write_bytes(target.body)
        results = Path(folder) / "results.bin"
        subprocess.run(
            [
                str(VEGETA),
                "attack",
                f"-rate={int(rate_per_s)}/1s",
                f"-duration={duration_s}s",
                f"-timeout={REQUEST_TIMEOUT_S}s",
                f"-body={body}",
                f"-header=Content-Type: {target.content_type}",
                f"-output={results}",
            ],
            input=f"POST {base_url}{target.path}\n",
            text=True,
            check=True,
            timeout=duration_s + REQUEST_TIMEOUT_S + 30,
        )
        encoded = subprocess.run(
            [str(VEGETA), "encode", "--to", "csv", str(results)],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
    return list(answers_from_csv(encoded.stdout))


def attack(base_url: str, target: HttpTarget, *, rate_per_s: float, duration_s: float) -> RatePoint:
    """POST ``target``'s body at ``rate_per_s`` for ``duration_s``; validate every reply."""
    answers = run_vegeta(base_url, target, rate_per_s=rate_per_s, duration_s=duration_s)
    return point_from_answers(answers, rate_per_s=rate_per_s, valid=target.valid)
