"""The sink's HTTP endpoints and the reader other processes use, over a canned engine.

The engine here is a stand-in that answers like chDB's JSONCompact; the real chDB
behind the same endpoints is exercised in tests/integration/test_sink.py.
"""

import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from consumers.metrics import SinkMetrics
from consumers.query_server import QueryServer, create_app
from plumbing.clickhouse import (
    ClickHouseQueryError,
    SinkQueryClickHouse,
    SinkUnavailableError,
    frame_from_rows,
)
from stack.supervisor import free_port

DOCUMENT = {
    "meta": [
        {"name": "variant", "type": "LowCardinality(String)"},
        {"name": "n", "type": "UInt64"},
        {"name": "price", "type": "Nullable(Float64)"},
        {"name": "at", "type": "DateTime64(3, 'UTC')"},
        {"name": "version", "type": "Nullable(String)"},
        {"name": "generation", "type": "Nullable(UInt64)"},
        {"name": "reasons", "type": "Array(String)"},
        {"name": "ok", "type": "Bool"},
    ],
    "data": [
        ["prod", 41, 52.5, "2026-11-27 02:11:58.123", "v1", 3, ["a"], True],
        ["candidate", "9", None, "2026-11-27 02:12:00.000", None, None, [], False],
    ],
}


class CannedEngine:
    """Answers SELECTs with DOCUMENT; fails like ClickHouse on the words 'readonly' and 'oops'."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any] | None]] = []

    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.seen.append((sql, params))
        if "readonly" in sql:
            raise RuntimeError("Code: 164. DB::Exception: Cannot execute query in readonly mode")
        if "oops" in sql:
            raise RuntimeError("Code: 60. DB::Exception: Unknown table expression identifier")
        return DOCUMENT


@pytest.fixture
def engine() -> CannedEngine:
    return CannedEngine()


@pytest.fixture
def ready() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@pytest.fixture
def client(engine: CannedEngine, ready: threading.Event) -> Iterator[TestClient]:
    app = create_app(reader=engine, metrics=SinkMetrics(), ready=ready)
    with TestClient(app) as test_client:
        yield test_client


def test_a_select_answers_columns_types_and_rows(client: TestClient, engine: CannedEngine) -> None:
    answer = client.post(
        "/query", json={"sql": "SELECT 1 WHERE x = {x:String}", "params": {"x": "a"}}
    )

    assert answer.status_code == 200
    body = answer.json()
    assert body["columns"] == [m["name"] for m in DOCUMENT["meta"]]
    assert body["types"] == [m["type"] for m in DOCUMENT["meta"]]
    assert body["rows"] == DOCUMENT["data"] and body["rows_count"] == 2
    assert engine.seen == [("SELECT 1 WHERE x = {x:String}", {"x": "a"})]


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("INSERT INTO splitstream.requests VALUES (1)", "read-only statement"),
        ("DROP TABLE splitstream.requests", "read-only statement"),
        ("SELECT 1 SETTINGS readonly = 0", "SETTINGS"),
        ("SELECT 1; SELECT 2", "2 statements"),
    ],
)
def test_a_statement_that_is_not_read_only_is_refused_before_clickhouse_sees_it(
    client: TestClient, engine: CannedEngine, sql: str, why: str
) -> None:
    answer = client.post("/query", json={"sql": sql})

    assert answer.status_code == 403
    assert answer.json()["error"] == "refused" and why in answer.json()["reason"]
    assert engine.seen == []


def test_clickhouse_refusing_a_write_is_a_403_and_a_failing_query_a_400(
    client: TestClient,
) -> None:
    refused = client.post("/query", json={"sql": "SELECT readonly"})
    failed = client.post("/query", json={"sql": "SELECT * FROM oops"})

    assert refused.status_code == 403 and "readonly mode" in refused.json()["reason"]
    assert failed.status_code == 400 and failed.json()["error"] == "failed"
    assert "Unknown table" in failed.json()["reason"]


def test_a_bad_body_is_a_422_naming_the_field(client: TestClient) -> None:
    answer = client.post("/query", json={"query": "SELECT 1"})

    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request" and "sql" in answer.json()["reason"]


def test_healthz_and_queries_wait_for_the_tables(engine: CannedEngine) -> None:
    not_yet = threading.Event()
    app = create_app(reader=engine, metrics=SinkMetrics(), ready=not_yet)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 503
        assert client.post("/query", json={"sql": "SELECT 1"}).status_code == 503
        not_yet.set()
        assert client.get("/healthz").status_code == 200


def test_metrics_count_queries_by_outcome(client: TestClient) -> None:
    client.post("/query", json={"sql": "SELECT 1"})
    client.post("/query", json={"sql": "DROP TABLE x"})

    text = client.get("/metrics").text

    assert 'splitstream_sink_queries_total{outcome="ok"} 1.0' in text
    assert 'splitstream_sink_queries_total{outcome="refused"} 1.0' in text
    assert "splitstream_sink_consumer_lag" in text


def test_the_reader_frame_has_dtypes_like_chdb_gives() -> None:
    columns = [m["name"] for m in DOCUMENT["meta"]]
    frame = frame_from_rows(columns, [m["type"] for m in DOCUMENT["meta"]], DOCUMENT["data"])

    assert list(frame["n"]) == [41, 9] and str(frame["n"].dtype) == "uint64"
    assert frame["price"].isna().tolist() == [False, True]
    assert str(frame["at"].dt.tz) == "UTC"
    assert frame["at"].iloc[0] == pd.Timestamp("2026-11-27 02:11:58.123", tz="UTC")
    assert frame["generation"].isna().tolist() == [False, True]
    assert frame["reasons"].tolist() == [["a"], []]
    assert frame["ok"].tolist() == [True, False]


@pytest.fixture
def served(engine: CannedEngine, ready: threading.Event) -> Iterator[str]:
    server = QueryServer(
        create_app(reader=engine, metrics=SinkMetrics(), ready=ready), host="127.0.0.1", port=0
    )
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_another_process_reads_a_dataframe_through_the_sink(served: str) -> None:
    reader = SinkQueryClickHouse(served, "splitstream", timeout_s=5)

    frame = reader.query_df("SELECT * FROM t WHERE at > {at:DateTime64(3)}", {"at": "2026-01-01"})

    assert list(frame.columns) == [m["name"] for m in DOCUMENT["meta"]]
    assert frame["variant"].tolist() == ["prod", "candidate"]


def test_the_reader_raises_the_sinks_reason_and_refuses_writes_itself(served: str) -> None:
    reader = SinkQueryClickHouse(served, "splitstream", timeout_s=5)

    with pytest.raises(ClickHouseQueryError, match=r"refused: .*read-only statement"):
        reader.query_df("DROP TABLE splitstream.requests")
    with pytest.raises(ClickHouseQueryError, match="read-only"):
        reader.insert_df("requests", pd.DataFrame({"x": [1]}))


def test_the_reader_says_the_sink_is_not_running_when_nothing_answers() -> None:
    reader = SinkQueryClickHouse(f"http://127.0.0.1:{free_port()}", "splitstream", timeout_s=2)

    with pytest.raises(SinkUnavailableError, match="splitstream sink"):
        reader.query_df("SELECT 1")
