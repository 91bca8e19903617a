"""The dashboard's data without services: rows, the MAE interval, the cache, and what a
missing sink or ledger does to the answer; the page and its static files are served."""

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from analysis.intervals import Z_95, mae_interval
from cli.settings import Settings, load_settings
from gateway import dashboard_rows as rows
from gateway.dashboard import DashboardSource, ViewRows
from gateway.main import create_app
from gateway.schemas import ExperimentOut
from plumbing.errors import SinkUnavailableError
from schemas.decision_events import LedgerRecord
from stack.ports import free_port

#: The gateway answers only its trusted hosts (localhost by default), not "testserver".
LOCAL = "http://localhost"

TOKEN = "unit-test-admin-token-0123456789"
EXPERIMENT = ExperimentOut(
    experiment_id="exp-1:m-a:m-b",
    candidate_share=0.2,
    share_source="settings",
    candidate_available=True,
    versions={"prod": "m-a", "candidate": "m-b"},
    slots=None,
)
SUMMARY = {
    "variant": "prod",
    "model_versions": "m-a",
    "requests": 80,
    "errors": 1,
    "timeouts": 0,
    "error_rate": 1 / 80,
    "latency_ms_p50": 4.0,
    "latency_ms_p95": 9.5,
    "latency_ms_p99": 12.0,
    "feedback": 50,
    "mae": 20.0,
    "rmse": 25.0,
    "abs_error_sum": 50 * 20.0,
    "abs_error_sq_sum": 50 * 25.0**2,
}


def _settings() -> Settings:
    return load_settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
        s3_access_key="unit",
        s3_secret_key="unit-secret",
        admin_token=TOKEN,
        sink_port=free_port(),
        request_id_key="k" * 32,
    )


def _record(
    sequence: int, action: str, best: str, inputs: dict[str, Any] | None = None
) -> LedgerRecord:
    slots = {"best": best, "candidate": None, "previous_best": None, "generation": sequence}
    return LedgerRecord.create(
        sequence=sequence,
        experiment_id=None,
        action=action,
        actor={"kind": "policy", "name": "promoter"},
        reasons=[f"reason {sequence}"],
        inputs=inputs or {},
        statistics={},
        thresholds={},
        slots_before=slots,
        slots_after=slots,
        etag_before=None,
        etag_after=None,
        missing_acks=[],
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


# --------------------------------------------------------------------------- rows


def test_mae_interval_is_the_normal_interval_of_the_absolute_errors() -> None:
    low, high = mae_interval(mae=20.0, rmse=25.0, feedback=50)
    sd = math.sqrt((25.0**2 - 20.0**2) * 50 / 49)
    assert low == pytest.approx(20 - Z_95 * sd / math.sqrt(50))
    assert high == pytest.approx(20 + Z_95 * sd / math.sqrt(50))


def test_mae_interval_needs_two_feedbacks_and_never_goes_below_zero() -> None:
    assert mae_interval(mae=5.0, rmse=5.0, feedback=1) == (None, None)
    assert mae_interval(mae=None, rmse=None, feedback=0) == (None, None)
    low, _high = mae_interval(mae=1.0, rmse=30.0, feedback=3)
    assert low == 0.0


def test_variants_come_prod_first_with_nulls_kept_as_none() -> None:
    candidate = {**SUMMARY, "variant": "candidate", "feedback": 0, "mae": None, "rmse": None}
    variants = rows.sorted_variants([candidate, SUMMARY])
    assert [v.variant for v in variants] == ["prod", "candidate"]
    assert variants[1].mae is None and variants[1].mae_low is None
    assert variants[0].requests == 80 and variants[0].mae_low is not None


def test_srm_mismatch_below_one_in_a_thousand_and_never_without_a_p_value() -> None:
    row = {
        "prod_requests": 900,
        "candidate_requests": 100,
        "expected_candidate_share": 0.5,
        "observed_candidate_share": 0.1,
        "chi2": 640.0,
        "p_value": 1e-9,
    }
    assert rows.srm_result(row).mismatch
    assert not rows.srm_result({**row, "p_value": 0.5}).mismatch
    assert not rows.srm_result({**row, "p_value": None}).mismatch


def test_timeline_is_newest_first_without_waits() -> None:
    records = [
        _record(0, "bootstrap", "m-a"),
        _record(1, "wait", "m-a"),
        _record(2, "promote", "m-b"),
    ]
    decisions = rows.decisions(records)
    assert [(d.sequence, d.action) for d in decisions] == [(2, "promote"), (0, "bootstrap")]
    assert decisions[0].best == "m-b" and decisions[0].reasons == ["reason 2"]
    assert decisions[0].actor == "policy: promoter"


def test_minutes_are_sorted_and_charted_per_variant() -> None:
    minute_rows = [
        {"minute": datetime(2026, 1, 1, 10, 1), "variant": "prod", "requests": 5,
         "latency_ms_p50": 3.0, "latency_ms_p95": 8.0},
        {"minute": datetime(2026, 1, 1, 10, 0), "variant": "candidate", "requests": 2,
         "latency_ms_p50": 4.0, "latency_ms_p95": None},
    ]  # fmt: skip
    minutes = rows.minute_rows(minute_rows)
    assert [m.minute for m in minutes] == ["2026-01-01T10:00", "2026-01-01T10:01"]
    charts = rows.charts(rows.sorted_variants([SUMMARY]), minutes)
    assert "10:00" in charts.requests and "candidate" in charts.requests
    assert "prod p95" in charts.latency
    assert "prod" in charts.mae and "no data yet" not in charts.mae


def test_timeline_adds_the_operators_reason() -> None:
    record = _record(3, "rollback", "m-a", inputs={"reason": "by hand", "command_id": "c"})
    assert rows.decisions([record])[0].reasons == ["reason 3", "by hand"]


# --------------------------------------------------------------------------- the source


class FakeReads:
    def __init__(self) -> None:
        self.view_reads = 0
        self.fail_views = False
        self.fail_ledger = False

    def views(self, settings: Settings, **kwargs: Any) -> ViewRows:
        self.view_reads += 1
        if self.fail_views:
            raise SinkUnavailableError("the sink did not answer")
        return ViewRows(summary=[SUMMARY], minutes=[], srm=[], drift=[])

    def ledger(self, settings: Settings, **kwargs: Any) -> list[LedgerRecord]:
        if self.fail_ledger:
            raise TimeoutError("ledger not read to its end")
        return [_record(0, "bootstrap", "m-a")]


@pytest.fixture
def reads() -> FakeReads:
    return FakeReads()


def _source(reads: FakeReads, clock: list[float]) -> DashboardSource:
    return DashboardSource(
        _settings(), clock=lambda: clock[0], views=reads.views, ledger=reads.ledger
    )


def test_one_read_serves_every_request_within_the_ttl(reads: FakeReads) -> None:
    clock = [100.0]
    source = _source(reads, clock)

    async def many() -> None:
        await asyncio.gather(*(source.current(EXPERIMENT) for _ in range(10)))
        clock[0] += 1.0
        await source.current(EXPERIMENT)
        assert reads.view_reads == 1
        clock[0] += 1.5
        await source.current(EXPERIMENT)
        assert reads.view_reads == 2
        await source.current(EXPERIMENT.model_copy(update={"candidate_share": 0.5}))
        assert reads.view_reads == 3

    asyncio.run(many())


def test_a_missing_sink_or_ledger_is_named_and_the_rest_is_answered(reads: FakeReads) -> None:
    reads.fail_views = True
    answer = asyncio.run(_source(reads, [0.0]).current(EXPERIMENT))
    assert set(answer.unavailable) == {"clickhouse"}
    assert "the sink did not answer" in answer.unavailable["clickhouse"]
    assert answer.variants == [] and answer.srm is None
    assert [d.action for d in answer.decisions] == ["bootstrap"]
    assert answer.experiment == EXPERIMENT

    reads.fail_views, reads.fail_ledger = False, True
    answer = asyncio.run(_source(reads, [0.0]).current(EXPERIMENT))
    assert set(answer.unavailable) == {"ledger"}
    assert answer.decisions == [] and answer.variants[0].requests == 80


# --------------------------------------------------------------------------- HTTP


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(_settings())
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/", 'id="predict-form"'),
        ("/dashboard", 'id="timeline"'),
        ("/static/predict.js", "/v1/predict"),
        ("/static/dashboard.js", "/v1/dashboard"),
        ("/static/api.js", "callApi"),
        ("/static/style.css", "system-ui"),
    ],
)
def test_pages_and_their_files_are_served(client: TestClient, path: str, marker: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert marker in response.text


def test_pages_load_nothing_from_elsewhere(client: TestClient) -> None:
    for path in ("/", "/dashboard", "/static/style.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text


def test_dashboard_answers_200_naming_what_is_unavailable(client: TestClient) -> None:
    gateway = client.app.state.gateway  # type: ignore[attr-defined]
    reads = FakeReads()
    reads.fail_ledger = True
    gateway.dashboard = DashboardSource(gateway.settings, ledger=reads.ledger)
    response = client.get("/v1/dashboard")
    assert response.status_code == 200
    body = response.json()
    assert set(body["unavailable"]) == {"clickhouse", "ledger"}  # no sink runs here
    assert body["variants"] == [] and body["decisions"] == []
    assert "no data yet" in body["charts"]["requests"]
    assert body["experiment"] == client.get("/v1/experiment").json()


def test_a_paired_decision_shows_both_maes_on_the_same_requests_then_the_interval() -> None:
    # Given a promotion on 412 pairs: prod 24.80 and candidate 22.10 on the same requests
    mae = {
        "method": "paired",
        "n_prod": 412,
        "n_candidate": 412,
        "mae_prod": 24.8,
        "mae_candidate": 22.1,
        "difference": -2.7,
        "lower": -4.1,
        "upper": -1.3,
        "alpha": 0.05,
        "rho": 0.1,
    }
    record = _record(4, "promote", "m-b").model_copy(update={"statistics": {"mae": mae}})
    decision = rows.decisions([record])[0]
    # Then the timeline reads true: the candidate's MAE is the lower one, beside the interval
    assert decision.evidence == (
        "paired, 412 requests: MAE prod 24.80, candidate 22.10 on the same requests; "
        "difference -2.70, 95% CS [-4.10, -1.30]"
    )
    assert rows.decisions([_record(5, "publish", "m-b")])[0].evidence == ""


def test_a_watch_decision_names_its_arms_previous_and_new() -> None:
    mae = {"method": "paired", "n_prod": 153, "mae_prod": 16.15, "mae_candidate": 48.59}
    statistics = {"mae": {**mae, "difference": 32.44, "lower": 6.6, "upper": 58.2, "alpha": 0.05}}
    statistics["arms"] = {"prod": "previous", "candidate": "new"}
    record = _record(9, "rollback", "m-a").model_copy(update={"statistics": statistics})
    assert rows.decisions([record])[0].evidence.startswith(
        "paired, 153 requests: MAE previous 16.15, new 48.59 on the same requests"
    )
