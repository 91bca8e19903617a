"""Every example query of docs/analysts.md, run on embedded ClickHouse (chDB).

The synthetic experiment of synthetic_experiment.py goes into a database named ``splitstream``,
so the queries run exactly as written. The experiment has no dead letters, ledger records or
score results: those are built from the schemas' valid examples, the way the sink builds
rows (``event_row``, ``frame``), with one re-delivered copy each so that FINAL is exercised.
Each query must run on the /query endpoint's read-only reader (readonly=1, the sink's
grants and limits, ClickHouse's parse checked) and return rows; most are also compared
with numbers computed in Python from the same events.
"""

import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from scipy.stats import chisquare

from consumers.engine import CheckedReader
from consumers.frames import event_row, frame
from consumers.rows import Coordinates
from plumbing.chdb_access import write_access_config
from plumbing.clickhouse import ChdbClickHouse, create_tables
from plumbing.settings import PROJECT_ROOT
from schemas.registry import TABLES_SQL, load_topics
from tests.integration.synthetic_experiment import (
    CANDIDATE_SHARE,
    EXPERIMENT,
    World,
    build_world,
    expected_paired,
    expected_psi,
    expected_summary,
    load_world,
    served_frame,
)

DOC = PROJECT_ROOT / "docs" / "analysts.md"
DATABASE = "splitstream"  # the queries name it, as analysts write them
EXAMPLES = TABLES_SQL.parent.parent / "examples"
#: A question line, blank lines, then a ```sql block.
_EXAMPLE = re.compile(r"([^\n]+)\n+```sql\n(.*?)\n```", re.DOTALL)
_TABLE_REFERENCE = re.compile(r"\b(?:FROM|JOIN)\s+([^\s(]+)", re.IGNORECASE)

Extras = dict[str, list[dict[str, Any]]]  # event type -> the events inserted for it


@dataclass(frozen=True)
class Example:
    """One example query of the doc and the question it answers."""

    question: str
    sql: str


def _examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    return [Example(q.strip(), sql) for q, sql in _EXAMPLE.findall(text)]


def _slug(index: int, question: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")
    return f"{index + 1:02d}-{words[:60]}"


EXAMPLES_OF_DOC = _examples()


# --------------------------------------------------------------------------- the missing events


def _example(event_type: str, name: str) -> dict[str, Any]:
    path = EXAMPLES / event_type / "valid" / f"{name}.json"
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


def _copy(event: dict[str, Any], *, at: datetime, **changes: Any) -> dict[str, Any]:
    """A new event like ``event``: its own id, occurring at ``at``."""
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {**event, "event_id": str(uuid.uuid4()), "occurred_at": stamp, **changes}


def build_extras(now: datetime) -> Extras:
    """Dead letters, two ledger records and 30 score results over the last five minutes."""
    schema_error = _example("deadletter.record", "schema_error")
    binary = _example("deadletter.record", "binary")
    ok, failed = _example("score.result", "ok"), _example("score.result", "error_unknown_location")
    return {
        "deadletter.record": [
            *(
                _copy(schema_error, at=now - timedelta(minutes=m), source_offset=m)
                for m in (1, 2, 3)
            ),
            _copy(binary, at=now - timedelta(minutes=4)),
        ],
        "ledger.record": [
            _copy(_example("ledger.record", "bootstrap"), at=now - timedelta(hours=6)),
            _copy(
                _example("ledger.record", "promote"),
                at=now - timedelta(minutes=10),
                sequence=1,
                experiment_id=EXPERIMENT,
            ),
        ],
        "score.result": [
            _copy(failed if i % 7 == 0 else ok, at=now - timedelta(seconds=20 + 9 * i), id=f"b/{i}")
            for i in range(30)
        ],
    }


def _insert(clickhouse: ChdbClickHouse, event_type: str, events: list[dict[str, Any]]) -> None:
    spec = next(t for t in load_topics() if event_type in t.events)
    assert spec.table is not None, event_type
    rows = [
        event_row(
            event,
            event_type=event_type,
            table=spec.table,
            layout=spec.table_layout,
            where=Coordinates(spec.name, 0, offset, -1),
        )
        for offset, event in enumerate(events)
    ]
    clickhouse.insert_df(spec.table, frame(spec.table, rows))


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=7)


@pytest.fixture(scope="module")
def extras(world: World) -> Extras:
    return build_extras(world.now)


@pytest.fixture(scope="module")
def chdb(
    tmp_path_factory: pytest.TempPathFactory, world: World, extras: Extras
) -> Iterator[ChdbClickHouse]:
    folder = tmp_path_factory.mktemp("chdb-analysts")
    access = write_access_config(folder / "access", DATABASE)  # the sink's grants
    clickhouse = ChdbClickHouse(str(folder / "chdb"), DATABASE, access_config=access)
    create_tables(clickhouse, DATABASE)
    load_world(clickhouse, world)
    for event_type, events in extras.items():
        _insert(clickhouse, event_type, events)
        _insert(clickhouse, event_type, events[:1])  # re-delivered in a later batch
    reader = ChdbClickHouse(str(folder / "chdb"), DATABASE, readonly=True)
    clickhouse.reader = CheckedReader(reader, threading.Lock())  # type: ignore[attr-defined]
    yield clickhouse
    reader.close()
    clickhouse.close()


# --------------------------------------------------------------------------- expected numbers

Check = Callable[[pd.DataFrame, World, Extras], None]


def _check_requests_and_mae(result: pd.DataFrame, world: World, extras: Extras) -> None:
    served = served_frame(world)
    assert list(result["variant"]) == ["candidate", "prod"]  # the latest request's experiment
    for row in result.itertuples():
        group = served[(served["experiment_id"] == EXPERIMENT) & (served["variant"] == row.variant)]
        expected = expected_summary(group)
        assert row.requests == expected["requests"], row.variant
        assert row.mae_lakhs == pytest.approx(expected["mae"], abs=0.0051), row.variant


def _check_srm(result: pd.DataFrame, world: World, extras: Extras) -> None:
    served = served_frame(world)
    counts = served[served["experiment_id"] == EXPERIMENT]["variant"].value_counts()
    n = int(counts.sum())
    expected = chisquare(
        [counts["prod"], counts["candidate"]], [n * (1 - CANDIDATE_SHARE), n * CANDIDATE_SHARE]
    )
    row = result.set_index("experiment_id").loc[EXPERIMENT]
    assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-6)


def _check_paired(result: pd.DataFrame, world: World, extras: Extras) -> None:
    expected = expected_paired(world)
    row = result.set_index("experiment_id").loc[EXPERIMENT]
    assert row["pairs"] == expected["pairs"]
    assert row["diff_mean"] == pytest.approx(expected["diff_sum"] / expected["pairs"])


def _check_drift(result: pd.DataFrame, world: World, extras: Extras) -> None:
    expected = {key for key, (_, psi) in expected_psi(world).items() if psi > 0.2}
    got = {(r.experiment_id, r.variant, r.model_version, r.feature) for r in result.itertuples()}
    assert got == expected


def _check_dead_letters(result: pd.DataFrame, world: World, extras: Extras) -> None:
    expected = Counter(e["reason"] for e in extras["deadletter.record"])
    assert dict(zip(result["reason"], result["messages"], strict=True)) == expected


def _check_ledger(result: pd.DataFrame, world: World, extras: Extras) -> None:
    records = sorted(extras["ledger.record"], key=lambda e: e["sequence"])
    assert list(result["action"]) == [e["action"] for e in records]
    assert list(result["why"]) == ["; ".join(e["reasons"]) for e in records]


def _check_feedback_coverage(result: pd.DataFrame, world: World, extras: Extras) -> None:
    priced = {f.request_id for f in world.feedback if f.actual_price_lakhs is not None}
    groups = {r.request_id: (r.experiment_id, r.variant) for r in world.requests if not r.shadow}
    expected = Counter(groups[rid] for rid in groups if rid in priced)
    got = {(r.experiment_id, r.variant): r.with_price for r in result.itertuples()}
    assert got == expected


def _check_scoring_throughput(result: pd.DataFrame, world: World, extras: Extras) -> None:
    events = extras["score.result"]
    assert result["results"].sum() == len(events)
    assert result["error_results"].sum() == sum(e["status"] == "error" for e in events)


def _check_slowest(result: pd.DataFrame, world: World, extras: Extras) -> None:
    served = served_frame(world)
    latency = served["latency_ms"].astype(float)
    slowest = served[latency == latency.max()]  # ties: any of them may come first
    assert result["latency_ms"].iloc[0] == pytest.approx(latency.max())
    assert result["model_version"].iloc[0] in set(slowest["model_version"])


#: A phrase of a question -> the check of its query's result.
CHECKS: dict[str, Check] = {
    "MAE does each variant": _check_requests_and_mae,
    "sample-ratio-mismatch": _check_srm,
    "shadow-scored": _check_paired,
    "PSI above 0.2": _check_drift,
    "dead letters": _check_dead_letters,
    "promoter decide": _check_ledger,
    "true price": _check_feedback_coverage,
    "batch scoring": _check_scoring_throughput,
    "slowest": _check_slowest,
}


# --------------------------------------------------------------------------- tests


def test_the_doc_has_ten_queries_each_after_its_question() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(EXAMPLES_OF_DOC) == text.count("```sql") == 10
    for example in EXAMPLES_OF_DOC:
        assert example.question.endswith("?"), example.question
        tables = _TABLE_REFERENCE.findall(example.sql)
        assert tables and all(t.startswith(f"{DATABASE}.") for t in tables), example.question
    for phrase in CHECKS:  # a reworded question must not silently drop its check
        assert sum(phrase in e.question for e in EXAMPLES_OF_DOC) == 1, phrase


@pytest.mark.parametrize(
    "example", EXAMPLES_OF_DOC, ids=[_slug(i, e.question) for i, e in enumerate(EXAMPLES_OF_DOC)]
)
def test_example_query_runs_as_written_and_returns_rows(
    example: Example, chdb: ChdbClickHouse, world: World, extras: Extras
) -> None:
    read_only = chdb.reader.query_json(example.sql)  # type: ignore[attr-defined]  # as /query runs it
    result = chdb.query_df(example.sql)
    assert len(result) > 0 and len(read_only["data"]) == len(result)
    for phrase, check in CHECKS.items():
        if phrase in example.question:
            check(result, world, extras)
