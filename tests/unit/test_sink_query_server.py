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
from pydantic import SecretStr

from clients.sink_query import SinkQueryClickHouse, frame_from_rows
from consumers.errors import QueryRefusedError, SinkError
from consumers.metrics import SinkMetrics
from consumers.query_server import QueryServer, create_app
from plumbing.errors import ClickHouseQueryError, SinkUnavailableError
from stack.ports import free_port

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


TOKEN = "reader-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class CannedEngine:
    """Answers SELECTs with DOCUMENT; fails like ClickHouse or the tree check on some words."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any] | None]] = []

    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.seen.append((sql, params))
        if "readonly" in sql:
            raise RuntimeError("Code: 164. DB::Exception: Cannot execute query in readonly mode")
        if "privileges" in sql:
            raise RuntimeError("Code: 497. DB::Exception: default: Not enough privileges.")
        if "huge" in sql:
            raise RuntimeError("Code: 396. DB::Exception: Limit for result exceeded")
        if "DROP" in sql:
            raise QueryRefusedError("DropQuery is not a read-only statement")
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
    app = create_app(
        reader=engine, metrics=SinkMetrics(), ready=ready, query_token=SecretStr(TOKEN)
    )
    with TestClient(app, headers=AUTH) as test_client:
        yield test_client


def test_the_sink_refuses_to_serve_query_without_a_token(engine: CannedEngine) -> None:
    for token in (None, SecretStr("")):
        with pytest.raises(SinkError, match="SPLITSTREAM_QUERY_TOKEN"):
            create_app(
                reader=engine, metrics=SinkMetrics(), ready=threading.Event(), query_token=token
            )


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}, {"authorization": "Basic x"}],
)
def test_query_without_the_token_is_401_and_reaches_no_engine(
    client: TestClient, engine: CannedEngine, headers: dict[str, str]
) -> None:
    client.headers.pop("authorization")

    answer = client.post("/query", json={"sql": "SELECT 1"}, headers=headers)

    assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
    assert engine.seen == []


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


def test_refusals_are_403_a_limit_and_a_failing_query_400(client: TestClient) -> None:
    readonly = client.post("/query", json={"sql": "SELECT readonly"})
    denied = client.post("/query", json={"sql": "SELECT privileges"})
    tree = client.post("/query", json={"sql": "DROP TABLE x"})
    limit = client.post("/query", json={"sql": "SELECT huge"})
    failed = client.post("/query", json={"sql": "SELECT * FROM oops"})

    assert readonly.status_code == 403 and "readonly mode" in readonly.json()["reason"]
    assert denied.status_code == 403 and denied.json()["error"] == "refused"
    assert tree.status_code == 403 and "not a read-only" in tree.json()["reason"]
    assert limit.status_code == 400 and limit.json()["error"] == "limit_exceeded"
    assert failed.status_code == 400 and failed.json()["error"] == "failed"
    assert "Unknown table" in failed.json()["reason"]


def test_a_bad_body_is_a_422_naming_the_field(client: TestClient) -> None:
    answer = client.post("/query", json={"query": "SELECT 1"})

    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request" and "sql" in answer.json()["reason"]


def test_healthz_and_queries_wait_for_the_tables(engine: CannedEngine) -> None:
    not_yet = threading.Event()
    app = create_app(
        reader=engine, metrics=SinkMetrics(), ready=not_yet, query_token=SecretStr(TOKEN)
    )
    with TestClient(app, headers=AUTH) as client:
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
    app = create_app(
        reader=engine, metrics=SinkMetrics(), ready=ready, query_token=SecretStr(TOKEN)
    )
    server = QueryServer(app, host="127.0.0.1", port=0)
    port = server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_another_process_reads_a_dataframe_through_the_sink(served: str) -> None:
    reader = SinkQueryClickHouse(served, "splitstream", token=TOKEN, timeout_s=5)

    frame = reader.query_df("SELECT * FROM t WHERE at > {at:DateTime64(3)}", {"at": "2026-01-01"})

    assert list(frame.columns) == [m["name"] for m in DOCUMENT["meta"]]
    assert frame["variant"].tolist() == ["prod", "candidate"]


def test_the_reader_raises_the_sinks_reason_and_refuses_writes_itself(served: str) -> None:
    reader = SinkQueryClickHouse(served, "splitstream", token=TOKEN, timeout_s=5)

    with pytest.raises(ClickHouseQueryError, match=r"refused: .*not a read-only statement"):
        reader.query_df("DROP TABLE splitstream.requests")
    with pytest.raises(ClickHouseQueryError, match="read-only"):
        reader.insert_df("requests", pd.DataFrame({"x": [1]}))


def test_the_reader_says_the_sink_is_not_running_when_nothing_answers() -> None:
    reader = SinkQueryClickHouse(
        f"http://127.0.0.1:{free_port()}", "splitstream", token=TOKEN, timeout_s=2
    )

    with pytest.raises(SinkUnavailableError, match="splitstream sink"):
        reader.query_df("SELECT 1")
