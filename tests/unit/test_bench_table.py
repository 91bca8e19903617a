"""The bench's pure parts: the max-rate search, percentiles, reply validation, the table."""

import base64
import json
import math

from bench.cpu_budget import CpuBudget
from bench.findings import Findings, LoadFindings
from bench.http_load import (
    Answer,
    HttpTarget,
    point_from_csv,
    valid_legacy_prediction,
    valid_prediction,
)
from bench.overload import OverloadFindings, failure_kinds, sort_answers
from bench.render import cpu_budget_table, markdown
from bench.restart import Restart, RestartFindings
from bench.results import RatePoint, percentile_ms
from bench.search import max_sustained, next_rate, search
from bench.table import rows_of


def _point(rate: float, *, p50_ms: float = 5.0, p99_ms: float = 20.0, errors: int = 0) -> RatePoint:
    return RatePoint(rate, 1000, errors, p50_ms, p50_ms, p99_ms, p99_ms, rate)


def test_search_doubles_from_the_best_rate_that_held() -> None:
    tried = {100.0: True, 300.0: True, 1000.0: True}
    assert next_rate(tried, start_per_s=100, ceiling_per_s=16_000) == 2000.0


def test_search_bisects_between_the_best_that_held_and_the_lowest_failure_above_it() -> None:
    tried = {100.0: True, 300.0: True, 1000.0: False}
    assert next_rate(tried, start_per_s=100, ceiling_per_s=16_000) == 650.0


def test_search_stops_when_the_bracket_is_within_ten_percent() -> None:
    assert next_rate({600.0: True, 650.0: False}, start_per_s=100, ceiling_per_s=16_000) is None


def test_search_stops_at_the_ceiling() -> None:
    assert next_rate({16_000.0: True}, start_per_s=100, ceiling_per_s=16_000) is None


def test_search_halves_when_nothing_held_and_gives_up_below_the_minimum() -> None:
    assert next_rate({100.0: False}, start_per_s=100, ceiling_per_s=16_000) == 50.0
    assert next_rate({40.0: False}, start_per_s=100, ceiling_per_s=16_000) is None


def test_search_runs_at_most_max_steps_and_finds_the_threshold() -> None:
    # Given a path that holds up to 777 req/s
    calls: list[float] = []

    def sustains(rate: float) -> bool:
        calls.append(rate)
        return rate <= 777

    # When searching from the fixed rates
    tried = search(
        sustains,
        tried={100.0: True, 300.0: True, 1000.0: False},
        start_per_s=100,
        ceiling_per_s=16_000,
        max_steps=4,
    )

    # Then it bisects 300..1000 and never exceeds its step budget
    assert calls == [650.0, 825.0, 738.0, 782.0]
    assert max_sustained(tried) == 738.0


def test_a_rate_is_sustained_only_with_no_errors_p99_under_100_ms_and_keeping_pace() -> None:
    assert _point(100).sustained
    assert not _point(100, errors=1).sustained
    assert not _point(100, p99_ms=100.0).sustained
    assert not RatePoint(100, 1000, 0, 5, 5, 20, 20, throughput_per_s=80).sustained


def test_percentile_is_nearest_rank_in_ms() -> None:
    latencies_ns = [i * 1_000_000 for i in range(1, 101)]
    assert percentile_ms(latencies_ns, 0.50) == 50.0
    assert percentile_ms(latencies_ns, 0.99) == 99.0
    assert math.isnan(percentile_ms([], 0.5))


def _body(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_only_a_200_with_a_positive_price_is_a_valid_reply() -> None:
    assert valid_prediction(200, _body({"price_lakhs": 75.2}))
    assert not valid_prediction(200, _body({"price_lakhs": -1}))
    assert not valid_prediction(504, _body({"price_lakhs": 75.2}))
    assert not valid_prediction(200, "not base64 json")
    assert valid_legacy_prediction(200, _body({"estimated_price": 75.2}))
    assert not valid_legacy_prediction(200, _body({"price_lakhs": 75.2}))


def test_vegeta_csv_counts_invalid_replies_as_errors() -> None:
    ok, bad = _body({"price_lakhs": 50.0}), _body({"error": "timeout"})
    text = (
        f"1000000000,200,2000000,80,60,,{ok},,0,POST,u,\n"
        f"1010000000,504,9000000,80,60,,{bad},,1,POST,u,\n"
        f"1020000000,200,4000000,80,60,,{ok},,2,POST,u,\n"
    )
    point = point_from_csv(text, rate_per_s=100)
    assert (point.sent, point.errors) == (3, 1)
    assert point.p50_ms == 2.0 and point.p99_ms == 4.0
    assert point.throughput_per_s == 2 / 0.024


def test_table_judges_each_target_and_lists_missing_measurements() -> None:
    # Given the request path twice as slow as the floor at 100 req/s, the full system at 60%
    # of direct's max rate on /v1 and 40% on the old form endpoint
    findings = Findings(
        request_path={"v1": LoadFindings({100.0: _point(100, p50_ms=4.0)}, 700)},
        full_system={
            "v1": LoadFindings({100.0: _point(100, p50_ms=4.0)}, max_sustained_per_s=600),
            "legacy": LoadFindings({100.0: _point(100, p50_ms=5.0)}, max_sustained_per_s=400),
        },
        direct=LoadFindings({100.0: _point(100, p50_ms=1.0)}, max_sustained_per_s=1000),
        floor=LoadFindings({100.0: _point(100, p50_ms=1.5)}, max_sustained_per_s=900),
        promotion_ack_s=0.4,
        rss_kb={"gateway": {1_000: 100_000, 100_000: 120_000}},
        failures={"batch": "RuntimeError: boom"},
    )

    rows = {(r.measurement, r.setting): r for r in rows_of(findings)}

    assert rows[("target", "request path p50 vs floor p50 at 100 req/s")].met is False
    assert rows[("target", "full system v1 max sustained vs direct")].met is True
    assert rows[("target", "full system legacy max sustained vs direct")].met is False
    assert rows[("target", "promote command -> last predictor ack")].met is True
    assert rows[("target", "gateway RSS growth 1,000 -> 100,000 requests")].met is False
    assert rows[("batch", "MISSING")].result == "RuntimeError: boom"


def test_rest_restart_and_overload_targets() -> None:
    # Given a system that idles at 4.5% of a core, restarts its agent in 20 s, and under
    # overload serves 95% of its maximum but once refuses in 60 ms
    budget = CpuBudget(rest_percent={"kafka": 2.0, "gateway": 2.5}, rest_seconds=60)
    findings = Findings(
        full_system={"v1": LoadFindings({}, max_sustained_per_s=500)},
        cpu=budget,
        restart=RestartFindings(
            requests=1_000_000,
            events=3_000_000,
            restarts=[Restart("SIGTERM", 1.0, 5.0, 12.0), Restart("SIGKILL", 0.1, 6.0, 20.0)],
        ),
        overload=OverloadFindings(
            rate_per_s=2000,
            duration_s=30,
            sent=60_000,
            accepted=14_250,
            refused=45_750,
            failed=0,
            failed_kinds=(),
            goodput_per_s=475,
            refused_p99_ms=12.0,
            refused_max_ms=60.0,
            accepted_p99_ms=400.0,
            accepted_stored=14_250,
        ),
    )

    rows = {r.setting: r for r in rows_of(findings) if r.measurement == "target"}

    assert rows["full system at rest, all processes, 60 s"].met is True
    restart = (
        "Faust agent counts again after a restart on 1,000,000 past requests "
        "(with replies and feedback)"
    )
    assert rows[restart].met is False
    assert rows[restart].result == "SIGTERM 12.0 s, SIGKILL 20.0 s"
    assert rows["overload goodput vs full system max (2000 req/s for 30 s)"].met is True
    assert rows["overload: slowest refusal (503)"].met is False
    assert rows["overload: p99 of the accepted"].met is True
    assert rows["overload: accepted requests stored in ClickHouse"].met is True


def test_cpu_budget_table_has_each_process_and_the_total() -> None:
    budget = CpuBudget(
        rest_percent={"kafka": 1.5, "sink": 0.5},
        rest_seconds=60,
        ms_per_request={100: {"kafka": 0.5, "sink": 0.25}, 400: {"kafka": 0.25, "sink": 0.125}},
    )
    header, rows = cpu_budget_table(budget)
    assert header[1:] == [
        "at rest, % of one core (60 s)",
        "CPU ms per request at 100 req/s",
        "CPU ms per request at 400 req/s",
    ]
    assert rows == [
        ["kafka", "1.5", "0.50", "0.25"],
        ["sink", "0.5", "0.25", "0.12"],
        ["total", "2.0", "0.75", "0.38"],
    ]


def test_markdown_has_one_line_per_row_and_the_caption() -> None:
    findings = Findings(
        request_path={"v1": LoadFindings({100.0: _point(100)}, max_sustained_per_s=100)}
    )
    text = markdown(rows_of(findings), "caption: vegeta")
    lines = text.splitlines()
    assert lines[0] == "| measurement | setting | result | target | met? |"
    assert len([line for line in lines if line.startswith("| request path v1")]) == 2
    assert "caption: vegeta" in text


def test_overload_failures_are_named_by_kind_commonest_first() -> None:
    answers = [
        Answer(0, 504, 2_000_000_000, "", ""),
        Answer(0, 0, 5_000_000_000, "Post: context deadline exceeded", ""),
        Answer(0, 504, 2_000_000_000, "", ""),
    ]

    assert failure_kinds(answers) == (("HTTP 504", 2), ("Post: context deadline exceeded", 1))


def test_equal_transport_errors_are_one_kind_and_keep_their_cause() -> None:
    reset = (
        'Post "http://127.0.0.1:28116/v1/predict": read tcp 127.0.0.1:{port}->127.0.0.1:28116: '
        "read: connection reset by peer"
    )
    answers = [Answer(0, 0, 1, reset.format(port=port), "") for port in (35029, 34427)]

    assert failure_kinds(answers) == (
        ('Post "…": read tcp …->…: read: connection reset by peer', 2),
    )


def _is_200(status: int, _body_b64: str) -> bool:
    return status == 200


def test_a_503_is_a_refusal_though_vegeta_gives_it_an_error_text() -> None:
    ok = Answer(0, 200, 1_000_000, "", "")
    refused = Answer(0, 503, 2_000_000, "503 Service Unavailable", "")
    timed_out = Answer(0, 0, 5_000_000_000, "Post: context deadline exceeded", "")
    target = HttpTarget("v1", "/v1/predict", b"{}", "application/json", _is_200, "request_id")

    assert sort_answers([ok, refused, timed_out], target) == ([ok], [refused], [timed_out])
