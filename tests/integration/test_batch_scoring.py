"""Batch scoring on the real stack: score.requests in, one score.result per row out."""

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.predictor_commands import score
from cli.score_csv import score_csv
from cli.settings import Settings, get_settings
from clients.scorer import score_requests
from schemas.registry import validate_event
from schemas.serving_events import ScoreRequest
from tests.integration.predictor_namespace import (
    LOCATIONS,
    Namespace,
    Worker,
    collect,
    expected_price,
    make_namespace,
    produce,
    publish,
    reading,
    running_worker,
    set_slots,
)

ROWS = 10_000


@pytest.fixture(scope="module")
def ns(stack: Settings) -> Namespace:
    namespace = make_namespace(stack)
    publish(namespace, "v1", scale=1.0)
    publish(namespace, "v2", scale=2.0)
    set_slots(namespace, best="v1", candidate="v2")
    return namespace


@pytest.fixture(scope="module")
def scorer(ns: Namespace) -> Iterator[Worker]:
    with running_worker(ns, "score") as worker:
        yield worker


def _write_input(path: Path, rows: int) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "location", "total_sqft", "bath", "bhk", "key"])
        for i in range(rows):
            location = "Atlantis" if i % 1000 == 999 else LOCATIONS[i % len(LOCATIONS)]
            key = f"user-{i % 50}" if i % 2 else ""
            writer.writerow([f"r{i}", location, 500 + i % 5000, 1 + i % 3, 1 + i % 4, key])


def test_ten_thousand_rows_in_give_ten_thousand_results_out(
    ns: Namespace, scorer: Worker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 10,000 rows, ten of them at an unknown location
    source, target = tmp_path / "rows.csv", tmp_path / "results.csv"
    _write_input(source, ROWS)

    # When the score command's function sends them through the scorer
    report = score_csv(ns.settings.as_kafka_role("batch"), source, target, timeout_s=180)

    with capsys.disabled():
        print(
            f"\nbatch scoring: {report.received} rows in {report.elapsed_s:.2f} s "
            f"= {report.rows_per_s:,.0f} rows/s"
        )
    # Then every id comes back exactly once, none missing
    assert (report.sent, report.received, report.missing) == (ROWS, ROWS, []), scorer.log()[-3000:]
    with target.open(newline="") as f:
        out = list(csv.DictReader(f))
    assert list(out[0]) == ["id", "variant", "model_version", "status", "price_lakhs", "error"]
    ids = Counter(row["id"] for row in out)
    assert len(ids) == ROWS
    assert set(ids.values()) == {1}
    assert set(ids) == {f"r{i}" for i in range(ROWS)}
    # and the split, versions, prices and domain errors are right
    by_id = {row["id"]: row for row in out}
    errors = [row for row in out if row["status"] == "error"]
    assert {row["id"] for row in errors} == {f"r{i}" for i in range(999, ROWS, 1000)}
    assert all(row["error"].startswith("out_of_domain: unknown location") for row in errors)
    variants = Counter(row["variant"] for row in out)
    assert 0.15 < variants["candidate"] / ROWS < 0.25
    for row in out:
        assert row["model_version"] == {"prod": "v1", "candidate": "v2"}[row["variant"]]
    first = by_id["r1"]
    scale = 1.0 if first["variant"] == "prod" else 2.0
    price = expected_price(scale, total_sqft=501, bath=2, bhk=2, location=LOCATIONS[1])
    assert float(first["price_lakhs"]) == pytest.approx(price, abs=0.02)
    keyed = [by_id[f"r{i}"]["variant"] for i in range(1, 2000, 100)]  # all key user-1
    assert len(set(keyed)) == 1


def test_results_validate_and_malformed_rows_are_dead_lettered(
    ns: Namespace, scorer: Worker
) -> None:
    rows = [
        ScoreRequest(id=f"s{i}", location="hebbal", total_sqft=1200.0, bath=2, bhk=2)
        for i in range(20)
    ]
    with reading(ns, "deadletter") as dead:
        produce(ns, "score_requests", [b"{not json", {"id": "x", "location": "hebbal"}])
        results, report = score_requests(ns.settings.as_kafka_role("batch"), rows, timeout_s=60)
        letters = collect(
            dead, lambda e: e.get("source_topic") == ns.topic("score_requests"), count=2
        )

    assert report.missing == []
    for result in results.values():
        validate_event(result, "score.result")
    assert sorted(e["error_type"] for _, e in letters) == ["decode", "schema"]
    assert all(e["consumer"].startswith("score-") for _, e in letters)


def test_score_command_writes_the_csv_and_numbers_rows_without_an_id(
    ns: Namespace, scorer: Worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(
        "location,total_sqft,bath,bhk\nwhitefield,1000,2,2\nhebbal,1500,3,3\nhebbal,abc,3,3\n"
    )
    monkeypatch.setenv("SPLITSTREAM_TOPIC_PREFIX", ns.prefix)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            score, ["--input", str(source), "--output", str(target), "--timeout-s", "60"]
        )
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    with target.open(newline="") as f:
        out = list(csv.DictReader(f))
    assert [row["id"] for row in out] == ["1", "2", "3"]
    assert [row["status"] for row in out] == ["ok", "ok", "error"]
    assert out[2]["error"].startswith("invalid_input")
    assert "2/2 results" in result.output


def test_score_command_exits_non_zero_naming_how_many_ids_did_not_come_back(
    stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a namespace where no scorer runs
    lonely = make_namespace(stack)
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("id,location,total_sqft,bath,bhk\na,hebbal,1000,2,2\nb,hebbal,900,2,2\n")
    monkeypatch.setenv("SPLITSTREAM_TOPIC_PREFIX", lonely.prefix)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            score, ["--input", str(source), "--output", str(target), "--timeout-s", "2"]
        )
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 1
    assert "2 id(s) got no result within 2 s" in result.output
    with target.open(newline="") as f:
        assert [row["status"] for row in csv.DictReader(f)] == ["missing", "missing"]
