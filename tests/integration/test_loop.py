"""The A/B loop on the real stack, as `make demo` plays it, then checked piece by piece.

The session starts `splitstream demo` once (the ``demo`` fixture of conftest.py),
against the session's Kafka, S3 and MLflow (given by URL, in its own bucket and topic
prefix) and waits until it has played the loop: a weak best model, a better candidate
promoted on held-out traffic with feedback and watched beside the held-back weak one, a
worse candidate queued behind that watch and then rejected, a bad promotion forced by
hand, a new candidate published during its watch, and the bad model rolled back on the
concurrent evidence. The tests then read its ledger, its ClickHouse (through the sink)
and its services; at the end of the session the fixture stops the demo with SIGTERM and
checks that nothing is left behind.
"""

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cli.settings import Settings
from clients.ledger_reader import read_ledger
from clients.promoter_commands import send_command
from clients.scorer import score_requests
from clients.sink_query import open_clickhouse_reader
from demo.loop import publish_worse_candidate
from demo.scenario import held_out
from demo.traffic import drive
from plumbing.model_store import Slots, SlotStore
from plumbing.s3 import s3_client
from promoter.policy import DEFAULT_POLICY_FILE
from schemas.serving_events import ScoreRequest
from stack import services, supervisor
from stack.ports import free_port
from tests.integration.conftest import DemoRun

STRICT_POLICY = Path(__file__).with_name("strict_policy.toml")


def _ledger_actions(settings: Settings) -> list[tuple[str, str]]:
    return [(r.action, r.actor.kind) for r in read_ledger(settings)]


def _cli(run: DemoRun, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=run.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    clickhouse = open_clickhouse_reader(settings)
    try:
        rows: list[dict[str, Any]] = clickhouse.query_df(sql).to_dict("records")
        return rows
    finally:
        clickhouse.close()


def _wait_for(check: Any, timeout_s: float = 60.0, every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every_s)


# --------------------------------------------------------------------------- the scenario


def test_demo_serves_the_readme_request_and_plays_the_whole_loop(demo: DemoRun) -> None:
    readme_row = next(line for line in demo.lines if "README curl" in line)
    assert "ok" in readme_row and "lakhs" in readme_row
    assert "FAILED" not in demo.output
    assert "replay --verify: ok" in demo.output

    actions = _ledger_actions(demo.settings)
    expected = [
        ("bootstrap", "trainer"),
        ("publish", "trainer"),
        ("promote", "policy"),
        ("publish", "trainer"),  # the worse candidate, queued behind the watch
        ("end_watch", "policy"),  # the watch passed: it took the candidate slot
        ("reject", "policy"),
        ("publish", "trainer"),
        ("promote", "operator"),
        ("publish", "trainer"),  # a new candidate during the forced promotion's watch
        ("rollback", "policy"),
    ]
    decisions = [a for a in actions if a[0] != "wait"]
    assert decisions[: len(expected)] == expected, actions
    for record in read_ledger(demo.settings):
        if record.actor.kind == "policy" and record.action != "wait":
            assert record.statistics and record.thresholds and record.reasons
            assert record.etag_before and record.etag_after


def test_the_forced_bad_promotion_is_rolled_back_on_concurrent_evidence(demo: DemoRun) -> None:
    records = read_ledger(demo.settings)
    forced = next(r for r in records if r.action == "promote" and r.actor.kind == "operator")
    later = records[forced.sequence + 1 :]
    queued = next(r for r in later if r.action == "publish")
    rollback = next(r for r in later if r.action == "rollback")
    # The previous best kept its share of the traffic beside the bad model
    assert (
        forced.slots_after.candidate == forced.slots_before.best == forced.slots_after.previous_best
    )
    assert forced.inputs["share_change"]["after"] == 0.1
    # A new candidate published during the watch waited, and did not end it
    assert queued.inputs.get("queued") is True and queued.slots_after == forced.slots_after
    # The rollback compared both on the same requests of the same period: shadow pairs
    mae = rollback.statistics["mae"]
    assert rollback.experiment_id == forced.inputs["watch"]["experiment_id"]
    assert mae["method"] == "paired" and mae["lower"] > 0
    assert mae["mae_candidate"] > mae["mae_prod"]  # the forced model erred more
    # and the queued candidate took the candidate slot when the watch ended
    assert rollback.slots_after.candidate == queued.inputs["model_version"]
    assert rollback.slots_after.best == forced.slots_before.best


def test_the_webhook_heard_every_swap_the_demo_decided(demo: DemoRun) -> None:
    """SPLITSTREAM_NOTIFY_WEBHOOK_URL of the demo's promoter: each swap is posted."""
    swaps = [r for r in read_ledger(demo.settings) if r.action in ("promote", "reject", "rollback")]
    assert len(swaps) >= 3
    demo.webhook.wait_for(len(swaps), timeout_s=30)
    posted = {m["event"]["sequence"]: m for m in demo.webhook.received if m["kind"] == "decision"}
    for record in swaps:
        message = posted[record.sequence]
        assert message["event"]["action"] == record.action
        assert message["text"].startswith(f"Splitstream decision #{record.sequence}")
        assert record.reasons[0][:50] in message["text"]


def test_replay_verify_passes_on_the_ledger_the_demo_wrote(demo: DemoRun) -> None:
    verified = _cli(demo, "replay", "--verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "S3 matches the ledger" in verified.stdout


def test_shadow_answers_are_recorded_never_returned_and_decide_paired(demo: DemoRun) -> None:
    # The better candidate was promoted on the paired statistic of shadow scoring.
    promote = next(
        r for r in read_ledger(demo.settings) if r.action == "promote" and r.actor.kind == "policy"
    )
    assert promote.statistics["mae"]["method"] == "paired", promote.statistics
    assert promote.statistics["feedback"]["pairs"] > 0

    # With a candidate published again, prod answers come from best; shadows only in ClickHouse.
    publish_worse_candidate(demo.settings, _console())
    slots = _slots(demo.settings)
    _wait_for(lambda: _candidate_served(demo.settings), 60)
    split = held_out(demo.settings)
    rows = [row._asdict() for row in split.rows_test[:300]]
    served = drive(demo.settings, rows, list(split.y_test[:300]), rate_per_s=50, feedback=False)
    prod = [s for s in served if s.variant == "prod"]
    assert prod and all(s.model_version == slots.best for s in prod)
    ids = ", ".join(f"'{s.request_id}'" for s in prod)
    db = demo.settings.clickhouse_database

    def shadow_rows() -> list[dict[str, Any]]:
        rows = _query(
            demo.settings,
            f"SELECT count(DISTINCT request_id) AS n, groupUniqArray(model_version) AS versions "
            f"FROM {db}.replies WHERE shadow AND request_id IN ({ids})",
        )
        return rows if rows and rows[0]["n"] > 0 else []

    found = _wait_for(shadow_rows, 60)
    assert found, "no shadow reply reached ClickHouse"
    assert list(found[0]["versions"]) == [slots.candidate]
    print(f"shadow: {found[0]['n']} of {len(prod)} prod requests have a shadow answer")


def _console() -> Any:
    from rich.console import Console

    return Console()


def _slots(settings: Settings) -> Slots:
    current = SlotStore(s3_client(settings), settings.s3_bucket).read()
    assert current is not None
    return current.slots


def _candidate_served(settings: Settings) -> bool:
    slots = _slots(settings)
    served = drive(settings, [_LISTING] * 20, [50.0] * 20, rate_per_s=20, feedback=False)
    return any(s.model_version == slots.candidate for s in served)


_LISTING = {"location": "1st Block Jayanagar", "total_sqft": 1000, "bath": 2, "bhk": 2}


# --------------------------------------------------------------------------- counts


def test_n_requests_and_m_batch_rows_are_stored_exactly_once(demo: DemoRun) -> None:
    settings, db = demo.settings, demo.settings.clickhouse_database
    split = held_out(settings)
    n, m = 400, 1000
    rows = [row._asdict() for row in split.rows_test[:n]]
    served = drive(settings, rows, list(split.y_test[:n]), rate_per_s=80, feedback=False)
    assert all(s.status == 200 for s in served), {s.status for s in served}
    tag = uuid.uuid4().hex[:8]
    batch = [
        ScoreRequest.model_validate({"id": f"{tag}-{i}", **row._asdict()})
        for i, row in enumerate(split.rows_test[i % len(split.rows_test)] for i in range(m))
    ]
    _results, report = score_requests(settings.as_kafka_role("batch"), batch, timeout_s=120)
    assert report.received == m and not report.missing

    ids = ", ".join(f"'{s.request_id}'" for s in served)
    count_sql = {
        "requests": f"FROM {db}.requests WHERE NOT shadow AND request_id IN ({ids})",
        "replies": f"FROM {db}.replies WHERE NOT shadow AND request_id IN ({ids})",
        "score_results": f"FROM {db}.score_results WHERE startsWith(id, '{tag}-')",
    }

    def counted() -> dict[str, tuple[int, int]]:
        found = {}
        for table, where in count_sql.items():
            row = _query(settings, f"SELECT uniqExact(event_id) AS unique, count() AS raw {where}")
            found[table] = (int(row[0]["unique"]), int(row[0]["raw"]))
        return found

    wanted = {"requests": n, "replies": n, "score_results": m}
    _wait_for(lambda: _all_in(counted(), wanted), 60)
    found = counted()
    print(f"ClickHouse (unique, raw) per table: {found}")
    assert {table: unique for table, (unique, _raw) in found.items()} == wanted
    assert all(raw >= unique for unique, raw in found.values())


def _all_in(found: dict[str, tuple[int, int]], wanted: dict[str, int]) -> bool:
    return all(found[t][0] >= count for t, count in wanted.items())


def test_window_counts_agree_with_clickhouse_within_one_percent(demo: DemoRun) -> None:
    windows = next(p for p in services.app_processes(demo.settings) if p.name == "windows")
    url = f"http://{demo.settings.stack_host}:{windows.ports[0]}/counts/"

    def compared() -> list[tuple[str, int, int]]:
        with urllib_open(url) as answer:
            counts = json.loads(answer.read())
        return [(_arm_name(arm), arm["requests"], _stored(demo, arm)) for arm in counts["arms"]]

    def agree() -> bool:
        rows = compared()
        return len(rows) >= 2 and all(abs(f - c) <= 0.01 * c for _, f, c in rows)

    _wait_for(agree, 90, every_s=3)  # both consume the same topics at their own pace
    rows = compared()
    for name, faust_count, stored in rows:
        print(f"{name}: faust {faust_count} requests, clickhouse {stored}")
    assert len([row for row in rows if row[2]]) >= 2
    assert all(abs(f - c) <= 0.01 * c for _, f, c in rows), rows


def _arm_name(arm: dict[str, Any]) -> str:
    return f"{arm['experiment_id']} {arm['variant']}"


def _stored(demo: DemoRun, arm: dict[str, Any]) -> int:
    """Served (non-shadow) requests of the arm in the agent's window, in ClickHouse."""
    sql = (
        f"SELECT count() AS n FROM {demo.settings.clickhouse_database}.v_served_requests "
        f"WHERE experiment_id = '{arm['experiment_id']}' AND variant = '{arm['variant']}' "
        f"AND occurred_at >= parseDateTime64BestEffort('{arm['window_start']}') "
        f"AND occurred_at < parseDateTime64BestEffort('{arm['window_end']}')"
    )
    return int(_query(demo.settings, sql)[0]["n"])


def urllib_open(url: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)  # noqa: S310


# --------------------------------------------------------------------------- control


def test_two_promoters_promoting_at_once_have_exactly_one_winner(demo: DemoRun) -> None:
    settings = demo.settings
    port = free_port()
    standby = supervisor.ServiceProcess(
        name="promoter-2",
        command=[sys.executable, "-m", "cli", "promoter"],
        ports=[port],
        log_file=settings.state_dir / "logs" / "promoter-2.log",
        run_dir=settings.state_dir / "run",
        is_ready=lambda: services.http_answers(f"http://127.0.0.1:{port}/metrics"),
        start_timeout_s=60,
        env={
            **{k: v for k, v in demo.env.items() if k.startswith("SPLITSTREAM_")},
            "SPLITSTREAM_PROMOTER_METRICS_PORT": str(port),
        },
    )
    supervisor.start(standby)  # a second promoter in the group: one active, one standby
    try:
        if _slots(settings).candidate is None:
            publish_worse_candidate(settings, _console())
        generation = _slots(settings).generation

        def promote(operator: str) -> str:
            result = send_command(
                settings,
                action="promote",
                operator=operator,
                reason="two operators at once",
                expected_generation=generation,
            )
            return result.outcome

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(promote, ["alice", "bob"]))
        assert outcomes == ["conflict", "done"]
        after = _slots(settings)
        # the old best is held back for the watch beside the promoted model
        assert after.generation == generation + 1 and after.holdback is not None
        raw = s3_client(settings).get_object(Bucket=settings.s3_bucket, Key="control/slots.json")
        assert set(json.loads(raw["Body"].read())) == {
            "best",
            "candidate",
            "previous_best",
            "generation",
        }
    finally:
        supervisor.stop(standby)


def test_a_corrupted_routing_object_is_reported_and_restored(demo: DemoRun) -> None:
    settings = demo.settings
    paused = send_command(settings, action="pause", operator="test", reason="corruption drill")
    assert paused.outcome in ("done", "refused")
    s3 = s3_client(settings)
    bad = Slots(best="not-a-real-version", candidate=None, previous_best=None, generation=999)
    s3.put_object(Bucket=settings.s3_bucket, Key="control/slots.json", Body=bad.to_json())

    reported = _cli(demo, "replay", "--verify")
    assert reported.returncode == 7, reported.stdout + reported.stderr
    assert "not-a-real-version" in reported.stdout

    restored = _cli(demo, "replay", "--restore")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    again = _cli(demo, "replay", "--verify")
    assert again.returncode == 0, again.stdout + again.stderr
    assert ("restore", "replay") in _ledger_actions(settings)


def test_dry_run_prints_each_experiments_first_decision_per_policy(demo: DemoRun) -> None:
    default = str(DEFAULT_POLICY_FILE)
    result = _cli(demo, "replay", "--dry-run", "--policy", default, "--policy", str(STRICT_POLICY))
    assert result.returncode == 0, result.stdout + result.stderr
    print(result.stdout)
    out = result.stdout
    assert "policy.toml" in out and "strict_policy.toml" in out
    assert "(experiment)" in out and "(watch)" in out
    # the recorded policy decides where the demo's did; the strict one never does
    assert "promote at +" in out and "reject at +" in out
    assert "waits (" in out
