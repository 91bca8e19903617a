"""``splitstream query``: its output formats and its refusals, over a canned reader."""

import json
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import clients.sink_query
from cli.sink_commands import query
from plumbing.errors import ClickHouseQueryError, SinkUnavailableError

FRAME = pd.DataFrame(
    {
        "variant": ["prod", "candidate"],
        "n": pd.Series([41, 9], dtype="uint64"),
        "mae": [25.5, float("nan")],
        "at": pd.to_datetime(["2026-11-27 02:11:58.123", "2026-11-27 03:00:00.000"], utc=True),
    }
)


class CannedReader:
    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any] | None]] = []
        self.closed = False

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        self.asked.append((sql, params))
        return FRAME

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def reader(monkeypatch: pytest.MonkeyPatch) -> CannedReader:
    canned = CannedReader()
    monkeypatch.setattr(clients.sink_query, "open_clickhouse_reader", lambda _settings: canned)
    return canned


def test_json_output_has_one_object_per_row_with_nulls_and_iso_times(reader: CannedReader) -> None:
    result = CliRunner().invoke(query, ["SELECT 1", "--format", "json"])

    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["variant"] for r in rows] == ["prod", "candidate"]
    assert rows[0]["n"] == 41 and rows[1]["mae"] is None
    assert rows[0]["at"].startswith("2026-11-27T02:11:58.123")
    assert reader.closed


def test_csv_output_has_a_header_and_the_rows(reader: CannedReader) -> None:
    result = CliRunner().invoke(query, ["SELECT 1", "--format", "csv"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "variant,n,mae,at" and lines[1].startswith("prod,41,25.5,")
    assert len(lines) == 1 + len(FRAME)


def test_the_table_shows_every_column_and_the_row_count(reader: CannedReader) -> None:
    result = CliRunner().invoke(query, ["SELECT 1"])

    assert result.exit_code == 0, result.output
    assert all(column in result.output for column in FRAME.columns)
    assert "NULL" in result.output and "2 row(s)" in result.output


def test_params_are_passed_by_name(reader: CannedReader) -> None:
    sql = "SELECT * FROM t WHERE id = {id:String}"

    result = CliRunner().invoke(query, [sql, "--param", "id=a=b", "-p", "n=3"])

    assert result.exit_code == 0, result.output
    assert reader.asked == [(sql, {"id": "a=b", "n": "3"})]


def test_a_write_the_sink_refuses_exits_1_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing(CannedReader):
        def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
            raise ClickHouseQueryError("refused: InsertQuery is not a read-only statement")

    monkeypatch.setattr(clients.sink_query, "open_clickhouse_reader", lambda _s: Refusing())

    result = CliRunner().invoke(query, ["INSERT INTO t VALUES (1)"])

    assert result.exit_code == 1 and "refused: InsertQuery" in result.output


def test_no_sink_is_a_clear_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    class Down(CannedReader):
        def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
            raise SinkUnavailableError("the sink did not answer at http://127.0.0.1:7020/query")

    monkeypatch.setattr(clients.sink_query, "open_clickhouse_reader", lambda _s: Down())

    result = CliRunner().invoke(query, ["SELECT 1"])

    assert result.exit_code == 1
    assert "the sink did not answer" in result.output and "Traceback" not in result.output
