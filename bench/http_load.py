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
from pathlib import Path

from bench.results import RatePoint

#: Installed by `make bench` (pinned in the Makefile).
VEGETA = Path(__file__).resolve().parent.parent / ".splitstream" / "tools" / "bin" / "vegeta"
#: A reply later than this is an error, not a latency.
REQUEST_TIMEOUT_S = 5
REQUEST_BODY = {"location": "1st Block Jayanagar", "total_sqft": 1000, "bath": 2, "bhk": 2}


def valid_prediction(status: int, body_b64: str) -> bool:
    """A 200 whose JSON body carries a positive price."""
    if status != 200:
        return False
    try:
        body = json.loads(base64.b64decode(body_b64))
    except (ValueError, binascii.Error):
        return False
    price = body.get("price_lakhs") if isinstance(body, dict) else None
    return isinstance(price, int | float) and price > 0


def point_from_csv(text: str, *, rate_per_s: float) -> RatePoint:
    """The latencies of the valid replies in vegeta's CSV encoding (see ``vegeta encode -h``)."""
    latencies_ns: list[int] = []
    first_send_ns, last_answer_ns, sent = None, 0, 0
    for fields in csv.reader(io.StringIO(text)):
        if not fields:
            continue
        sent += 1
        sent_ns, status, latency_ns = int(fields[0]), int(fields[1]), int(fields[2])
        first_send_ns = sent_ns if first_send_ns is None else min(first_send_ns, sent_ns)
        last_answer_ns = max(last_answer_ns, sent_ns + latency_ns)
        if not fields[5] and valid_prediction(status, fields[6]):
            latencies_ns.append(latency_ns)
    span_s = (last_answer_ns - (first_send_ns or 0)) / 1e9 if sent else 0.0
    return RatePoint.from_latencies(
        rate_per_s=rate_per_s, sent=sent, latencies_ns=latencies_ns, span_s=span_s
    )


def attack(url: str, *, rate_per_s: float, duration_s: float) -> RatePoint:
    """POST the request body to ``url`` at ``rate_per_s`` for ``duration_s``; validate replies."""
    with tempfile.TemporaryDirectory(prefix="splitstream-bench-") as folder:
        body = Path(folder) / "body.json"
        body.write_text(json.dumps(REQUEST_BODY))
        results = Path(folder) / "results.bin"
        subprocess.run(
            [
                str(VEGETA),
                "attack",
                f"-rate={int(rate_per_s)}/1s",
                f"-duration={duration_s}s",
                f"-timeout={REQUEST_TIMEOUT_S}s",
                f"-body={body}",
                "-header=Content-Type: application/json",
                f"-output={results}",
            ],
            input=f"POST {url}\n",
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
    return point_from_csv(encoded.stdout, rate_per_s=rate_per_s)
