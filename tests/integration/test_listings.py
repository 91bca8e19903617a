"""All 13,320 listings of the data set, straight from pandas (floats and all), to the gateway.

pandas reads ``bath`` as floats (the column has missing values) and the bedrooms come out
of ``size`` ("2 BHK") as floats too; ``total_sqft`` is a number or a range ("1133 - 1384").
A client that posts these rows as they are must get a price (200) or a domain refusal
(422 ``out_of_domain``: a location or a size the model never saw), never a type error for
an integral float such as 2.0. Rows that really are malformed (a missing value, a range)
get 422 ``invalid_input`` naming that field.
"""

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd

from stack.traffic import gateway_url
from tests.integration.conftest import DemoRun

#: Requests in flight at once, each on its own keep-alive connection.
CONNECTIONS = 12
#: A 503 or 504 (the machine is busy) is asked again, as a client would; not a verdict.
RETRIES = 3


@dataclass(frozen=True)
class Answer:
    body: dict[str, Any]
    status: int
    error: dict[str, Any] | None


def listings(path: str) -> list[dict[str, Any]]:
    """Each row as a client posting the file would send it: pandas' values, NaN as null."""
    frame = pd.read_csv(path)
    sqft = pd.to_numeric(frame["total_sqft"], errors="coerce")
    bhk = frame["size"].str.split().str[0].astype(float)  # "2 BHK" -> 2.0, missing -> NaN
    rows = []
    for i in range(len(frame)):
        location = frame["location"].iloc[i]
        rows.append(
            {
                "location": location if isinstance(location, str) else None,
                # a range ("1133 - 1384") is sent as the file has it
                "total_sqft": float(sqft.iloc[i])
                if not math.isnan(sqft.iloc[i])
                else str(frame["total_sqft"].iloc[i]),
                "bath": _number(frame["bath"].iloc[i]),
                "bhk": _number(bhk.iloc[i]),
            }
        )
    return rows


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def malformed_fields(body: dict[str, Any]) -> set[str]:
    """The fields the API must refuse whatever the model: missing, not a number, a fraction."""
    bad = set()
    location = body["location"]
    if not isinstance(location, str) or not location.strip():
        bad.add("location")
    sqft = body["total_sqft"]
    if not isinstance(sqft, float) or not 0 < sqft <= 1_000_000:
        bad.add("total_sqft")
    for field, low in (("bath", 0), ("bhk", 1)):
        value = body[field]
        if not isinstance(value, float) or not value.is_integer() or not low <= value <= 50:
            bad.add(field)
    return bad


async def _post_all(base: str, bodies: list[dict[str, Any]]) -> list[Answer]:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    answers: list[Answer | None] = [None] * len(bodies)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(bodies)):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            for _ in range(RETRIES):
                response = await client.post("/v1/predict", json=bodies[i])
                if response.status_code not in (503, 504):
                    break
                await asyncio.sleep(0.5)
            body = response.json()
            answers[i] = Answer(bodies[i], response.status_code, body.get("error"))

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=15) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONNECTIONS)))
    return [a for a in answers if a is not None]


def test_every_listing_of_the_data_set_gets_a_price_or_a_domain_refusal(demo: DemoRun) -> None:
    # Given every row of the data set as pandas reads it
    bodies = listings(str(demo.settings.data_path))
    assert len(bodies) > 13_000  # 13,320 rows as pandas reads the file
    well_formed = [b for b in bodies if not malformed_fields(b)]
    assert len(well_formed) > 12_900
    assert all(isinstance(b["bath"], float) and isinstance(b["bhk"], float) for b in well_formed)

    # When each is posted to the gateway as it is
    started = time.monotonic()
    answers = asyncio.run(_post_all(gateway_url(demo.settings), bodies))
    took_s = time.monotonic() - started
    assert len(answers) == len(bodies)

    # Then a well-formed row gets a price or a domain refusal, never a type error
    by_outcome: dict[str, int] = {}
    problems = []
    for answer in answers:
        code = answer.error["code"] if answer.error else "ok"
        by_outcome[f"{answer.status} {code}"] = by_outcome.get(f"{answer.status} {code}", 0) + 1
        bad = malformed_fields(answer.body)
        if not bad and not (
            answer.status == 200 or (answer.status, code) == (422, "out_of_domain")
        ):
            problems.append(answer)
        # And a malformed one is refused naming one of its own malformed fields
        if bad and not (
            (answer.status, code) == (422, "invalid_input") and answer.error["field"] in bad  # type: ignore[index]
        ):
            problems.append(answer)
    print(f"{len(answers)} listings in {took_s:.1f} s: {dict(sorted(by_outcome.items()))}")
    assert problems == [], problems[:5]
    assert by_outcome.get("200 ok", 0) > 10_000
