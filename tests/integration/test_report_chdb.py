"""`splitstream report` on embedded ClickHouse (chDB): the views read back into the A/B summary."""

import dataclasses
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from scipy.stats import chisquare

import clients.sink_query
from analysis.views import latest_experiment
from cli.report_command import report
from cli.settings import get_settings
from clients.sink_query import SinkQueryClickHouse
from consumers.metrics import SinkMetrics
from consumers.query_server import QueryServer, create_app
from consumers.report import read_report
from consumers.report_charts import DRIFT_CHART, HOURLY_CHARTS, write_charts
from plumbing.clickhouse import ChdbClickHouse, create_tables
from tests.integration.synthetic_experiment import (
    CANDIDATE_SHARE,
    EXPERIMENT,
    World,
    build_world,
    expected_paired,
    expected_summary,
    load_world,
    served_frame,
)

DATABASE = "splitstream_report"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(seed=11)


@pytest.fixture(scope="module")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb-report")


@pytest.fixture(scope="module")
def chdb(chdb_path: Path, world: World) -> Iterator[ChdbClickHouse]:
    clickhouse = ChdbClickHouse(str(chdb_path), DATABASE)
    create_tables(clickhouse, DATABASE)
    load_world(clickhouse, world)
    yield clickhouse
    clickhouse.close()


@pytest.fixture
def sink_reader(chdb: ChdbClickHouse, chdb_path: Path) -> Iterator[SinkQueryClickHouse]:
    """The sink's read-only /query endpoint over the same chDB data, as another process sees it."""
    readonly = ChdbClickHouse(str(chdb_path), DATABASE, readonly=True)
    ready = threading.Event()
    ready.set()
    token = secrets.token_urlsafe(16)
    app = create_app(
        reader=readonly, metrics=SinkMetrics(), ready=ready, query_token=SecretStr(token)
    )
    server = QueryServer(app, host="127.0.0.1", port=0)
    try:
        port = server.start()
        yield SinkQueryClickHouse(f"http://127.0.0.1:{port}", DATABASE, token=token)
    finally:
        server.stop()
        readonly.close()


class KeptOpen:
    """The module's chDB session handed to the CLI, which closes its reader when done."""

    def __init__(self, inner: ChdbClickHouse) -> None:
        self.inner = inner
        self.closed = False

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.inner.query_df(sql, params)

    def close(self) -> None:
        self.closed = True


def test_the_latest_experiment_is_the_one_with_the_newest_request(chdb: ChdbClickHouse) -> None:
    assert latest_experiment(chdb, DATABASE) == EXPERIMENT


def test_report_numbers_are_the_experiments_numbers(chdb: ChdbClickHouse, world: World) -> None:
    result = read_report(
        chdb, database=DATABASE, experiment_id=EXPERIMENT, candidate_share=CANDIDATE_SHARE
    )
    served = served_frame(world)
    served = served[served["experiment_id"] == EXPERIMENT]
    assert [v.variant for v in result.variants] == ["prod", "candidate"]
    for stats in result.variants:
        expected = expected_summary(served[served["variant"] == stats.variant])
        assert stats.requests == expected["requests"]
        assert stats.errors == expected["errors"]
        assert stats.latency_ms_p95 == pytest.approx(expected["latency_ms_p95"])
        assert stats.mae == pytest.approx(expected["mae"])
    counts = served["variant"].value_counts()
    n = int(counts.sum())
    expected_srm = chisquare(
        [counts["prod"], counts["candidate"]], [n * (1 - CANDIDATE_SHARE), n * CANDIDATE_SHARE]
    )
    assert result.srm is not None
    assert result.srm.p_value == pytest.approx(expected_srm.pvalue, rel=1e-6)
    assert result.srm.mismatch == (expected_srm.pvalue < 0.001)
    paired = expected_paired(world)
    assert result.paired is not None and result.paired.pairs == paired["pairs"]
    assert result.paired.diff_mean == pytest.approx(paired["diff_sum"] / paired["pairs"])
    assert {(d.variant, d.feature) for d in result.drift} == {
        (variant, feature)
        for variant in ("prod", "candidate")
        for feature in ("total_sqft", "bath", "bhk", "location")
    }
    assert set(result.hourly["variant"]) == {"prod", "candidate"}


def test_charts_are_written_for_a_real_experiment(chdb: ChdbClickHouse, tmp_path: Path) -> None:
    result = read_report(
        chdb, database=DATABASE, experiment_id=EXPERIMENT, candidate_share=CANDIDATE_SHARE
    )
    written = write_charts(result, tmp_path)
    assert {p.name for p in written} == {*HOURLY_CHARTS, DRIFT_CHART}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_cli_prints_the_table_and_json_from_the_views(
    chdb: ChdbClickHouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the CLI reading this chDB session, with this test's database
    reader = KeptOpen(chdb)
    monkeypatch.setattr(
        clients.sink_query, "open_clickhouse_reader", lambda _s: reader, raising=False
    )
    monkeypatch.setenv("SPLITSTREAM_CLICKHOUSE_DATABASE", DATABASE)
    monkeypatch.setenv("SPLITSTREAM_CANDIDATE_SHARE", str(CANDIDATE_SHARE))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width
    get_settings.cache_clear()
    try:
        table = CliRunner().invoke(report, ["--plots", str(tmp_path)])
        as_json = CliRunner().invoke(report, ["--format", "json", "--experiment", EXPERIMENT])
    finally:
        get_settings.cache_clear()
    # Then the table names the experiment and the tests, and the JSON holds the same numbers
    assert table.exit_code == 0, table.output
    print(table.output)
    assert f"experiment {EXPERIMENT}" in table.output
    assert "sample-ratio mismatch" in table.output and "drift_psi.png" in table.output
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    direct = read_report(
        chdb, database=DATABASE, experiment_id=EXPERIMENT, candidate_share=CANDIDATE_SHARE
    )
    assert [v["requests"] for v in data["variants"]] == [v.requests for v in direct.variants]
    assert data["srm"]["p_value"] == pytest.approx(direct.srm.p_value)  # type: ignore[union-attr]
    assert reader.closed


def test_the_report_through_the_sinks_query_endpoint_equals_the_direct_one(
    chdb: ChdbClickHouse, sink_reader: SinkQueryClickHouse
) -> None:
    # Given the same views read in-process and over the sink's read-only HTTP endpoint
    direct = read_report(
        chdb, database=DATABASE, experiment_id=EXPERIMENT, candidate_share=CANDIDATE_SHARE
    )
    over_http = read_report(
        sink_reader, database=DATABASE, experiment_id=EXPERIMENT, candidate_share=CANDIDATE_SHARE
    )
    # Then every number agrees (the endpoint accepts the parameterized SRM view too)
    assert latest_experiment(sink_reader, DATABASE) == EXPERIMENT
    assert over_http.variants == direct.variants
    _same_numbers(over_http.srm, direct.srm)
    _same_numbers(over_http.paired, direct.paired)
    assert [(d.feature, d.requests) for d in over_http.drift] == [
        (d.feature, d.requests) for d in direct.drift
    ]
    for http_row, direct_row in zip(over_http.drift, direct.drift, strict=True):
        assert http_row.psi == pytest.approx(direct_row.psi, rel=1e-9)
    assert len(over_http.hourly) == len(direct.hourly)


def _flat(fields: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _same_numbers(got: Any, expected: Any) -> None:
    """Field by field equal; floats to 12 significant digits: the endpoint's JSON prints a
    Float64 with 16 (3.043777777777777 for 3.0437777777777777), the engine hands over 17."""
    got_fields, expected_fields = (_flat(dataclasses.asdict(x)) for x in (got, expected))
    assert got_fields.keys() == expected_fields.keys()
    for key, value in expected_fields.items():
        if isinstance(value, float):
            assert got_fields[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got_fields[key] == value, key
