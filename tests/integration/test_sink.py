"""The sink on the real stack: Kafka in, chDB out, read-only SQL for other processes.

Every sink here is a real ``python -m cli sink`` process with a topic prefix, a
consumer group, a chDB folder and a port of its own; the test reads ClickHouse only
through the sink's /query endpoint, as any other process must.
"""

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from cli.settings import Settings, load_settings
from clients.sink_query import SinkQueryClickHouse, sink_url
from consumers.engine import open_sink_clickhouse
from consumers.frames import event_row, frame
from consumers.rows import Coordinates
from plumbing.clickhouse import ChdbClickHouse, create_tables
from plumbing.kafka import producer
from plumbing.kafka_security import client_security
from plumbing.request_ids import for_settings
from plumbing.settings import PROJECT_ROOT
from schemas.registry import TABLES_SQL, load_topics
from stack import kafka_access, supervisor
from stack.ports import free_port
from stack.private import kafka_passwords_env
from stack.process_groups import pid_alive
from stack.supervisor import ServiceProcess

EXAMPLES = TABLES_SQL.parent.parent / "examples"
SINK_COMMAND = [sys.executable, "-m", "cli", "sink"]


def _example(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return event


# --------------------------------------------------------------------------- a sink process


@dataclass
class SinkRun:
    """One sink's world: its settings (prefix, state folder, port) and its process."""

    settings: Settings
    service: ServiceProcess
    pid: int | None = None
    db: str = field(init=False)

    def __post_init__(self) -> None:
        self.db = self.settings.clickhouse_database

    @property
    def url(self) -> str:
        return sink_url(self.settings)

    def start(self) -> None:
        self.pid = supervisor.start(self.service)

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        assert self.pid is not None
        os.killpg(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while pid_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor.reap_children()

    def stop(self) -> None:
        supervisor.stop(self.service, grace_s=15.0)

    def reader(self) -> SinkQueryClickHouse:
        token = self.settings.query_token
        assert token is not None
        return SinkQueryClickHouse(self.url, self.db, token=token.get_secret_value(), timeout_s=10)

    def served_id(self) -> str:
        """A request id as the gateways mint it, under this sink's request id key."""
        return for_settings(self.settings).mint()

    def count(self, sql: str) -> int:
        frame = self.reader().query_df(sql.replace("$db", self.db))
        return int(frame.iloc[0, 0])

    def topic(self, key: str) -> str:
        return self.settings.topic(key).name


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _sink_world(folder: Path) -> Iterator[SinkRun]:
    """Topics under a fresh prefix, and a sink (not started) with its own chDB and port."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        "SPLITSTREAM_TOPIC_PREFIX": f"sink-{suffix}.",
        "SPLITSTREAM_STATE_DIR": str(folder / "state"),
        "SPLITSTREAM_SINK_PORT": str(free_port()),
        "SPLITSTREAM_SINK_BATCH_ROWS": "1000",
        "SPLITSTREAM_SINK_BATCH_SECONDS": "0.2",
        "SPLITSTREAM_QUERY_TOKEN": secrets.token_urlsafe(16),
        "SPLITSTREAM_REQUEST_ID_KEY": secrets.token_urlsafe(32),
        **kafka_passwords_env(load_settings()),  # its own state folder: no local.env there
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
    kafka_access.provision(settings)
    url = sink_url(settings)
    service = ServiceProcess(
        name=f"sink-{suffix}",
        command=SINK_COMMAND,
        ports=[settings.sink_port],
        log_file=folder / "sink.log",
        run_dir=folder / "run",
        is_ready=lambda: _healthy(url),
        start_timeout_s=60.0,
        env=env,
        cwd=PROJECT_ROOT,
    )
    run = SinkRun(settings, service)
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture
def sink_run(stack: Settings, tmp_path: Path) -> Iterator[SinkRun]:
    """A sink of its own, not started yet."""
    with _sink_world(tmp_path) as run:
        yield run


def _raw_producer(settings: Settings) -> KafkaProducer:
    """As the admin: the tests write every topic, which no one principal does."""
    admin = settings.as_kafka_role("admin")
    return producer(admin, value_serializer=None, linger_ms=5, batch_size=256 * 1024)


def _wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, *, poll_s: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


# --------------------------------------------------------------------------- no Kafka needed


def test_every_valid_example_row_inserts_into_chdb(tmp_path: Path) -> None:
    """What event_row and frame make for every event type, chDB stores (arrays included)."""
    clickhouse = ChdbClickHouse(str(tmp_path / "chdb"), "sink_rows")
    try:
        create_tables(clickhouse, "sink_rows")
        expected: dict[str, int] = {}
        for spec in (t for t in load_topics() if t.table):
            rows = []
            for event_type in spec.events:
                for offset, path in enumerate(sorted((EXAMPLES / event_type / "valid").glob("*"))):
                    event = json.loads(path.read_text(encoding="utf-8"))
                    where_ = _where(spec.name, offset)
                    rows.append(
                        event_row(
                            event,
                            event_type=event_type,
                            table=spec.table,
                            layout=spec.table_layout,
                            where=where_,
                        )
                    )
            clickhouse.insert_df(spec.table, frame(spec.table, rows))
            expected[spec.table] = expected.get(spec.table, 0) + len(rows)
        for table, rows in expected.items():
            stored = clickhouse.query_df(f"SELECT count() AS n FROM sink_rows.{table}")
            assert int(stored["n"].iloc[0]) == rows, table
    finally:
        clickhouse.close()


def _where(topic: str, offset: int) -> Coordinates:
    return Coordinates(topic, 0, offset, int(time.time() * 1000))


def test_the_read_only_chdb_connection_refuses_writes_ddl_and_settings_changes(
    tmp_path: Path,
) -> None:
    """The second check behind /query: chDB itself, on the connection /query uses."""
    settings = load_settings(state_dir=tmp_path / "state", clickhouse_database="sink_ro")
    clickhouse = open_sink_clickhouse(settings)
    try:
        create_tables(clickhouse.writer, "sink_ro")
        reader = clickhouse.reader
        for statement in (
            "INSERT INTO sink_ro.feedback (event_id) VALUES ('x')",
            "DROP TABLE sink_ro.feedback",
            "CREATE TABLE sink_ro.extra (x UInt8) ENGINE = Memory",
            "SELECT 1 SETTINGS readonly = 0",
            "SET readonly = 0",
        ):
            with pytest.raises(Exception, match=r"readonly|read-only|syntax tree"):
                reader.query_json(statement)
        assert reader.query_json("SELECT count() AS n FROM sink_ro.feedback")["data"] == [[0]]
        clickhouse.writer.command("INSERT INTO sink_ro.feedback (event_id) VALUES ('w')")
        assert reader.query_json("SELECT count() AS n FROM sink_ro.feedback")["data"] == [[1]]
    finally:
        clickhouse.close()


# --------------------------------------------------------------------------- events and poison


def _valid_events(run: SinkRun) -> dict[str, list[bytes]]:
    """Fresh valid events of several types, by topic key."""

    def fresh(name: str, **changes: Any) -> bytes:
        return json.dumps({**_example(name), "event_id": str(uuid.uuid4()), **changes}).encode()

    def minimal_score_request(i: int) -> bytes:
        return json.dumps({**_example("score.request/valid/minimal"), "id": f"row-{i}"}).encode()

    return {
        "predict_requests_prod": [fresh("predict.request/valid/random_shadow") for _ in range(60)],
        "predict_requests_candidate": [
            fresh("predict.request/valid/hashed_http") for _ in range(60)
        ],
        "predict_replies": [fresh("predict.reply/valid/ok") for _ in range(100)],
        "score_requests": [minimal_score_request(i) for i in range(80)],
        "score_results": [fresh("score.result/valid/ok") for _ in range(40)],
        "feedback": [
            fresh("feedback/valid/actual_price", request_id=run.served_id()) for _ in range(40)
        ],
        "model_events": [fresh("model.reload/valid/promote") for _ in range(5)]
        + [fresh("model.promoted/valid/policy") for _ in range(5)],
        "promoter_ledger": [fresh("ledger.record/valid/promote") for _ in range(10)],
    }


def _poison(run: SinkRun) -> dict[str, list[bytes]]:
    """Messages the sink cannot store, by topic key: each must become one dead letter."""
    reply = _example("predict.reply/valid/ok")
    del reply["request_id"]
    unserved = {**_example("feedback/valid/actual_price"), "event_id": str(uuid.uuid4())}
    huge = {**unserved, "event_id": str(uuid.uuid4()), "request_id": run.served_id()}
    return {
        "feedback": [
            b"not json {",
            json.dumps(unserved).encode(),  # no gateway served its request
            json.dumps({**huge, "actual_price_lakhs": 1e200}).encode(),  # out of range
        ],
        "predict_replies": [json.dumps(reply).encode()],  # a required field is missing
        "score_requests": [json.dumps({"id": "x", "location": "Whitefield", "bhk": "3"}).encode()],
        "model_events": [b"[1, 2, 3]"],  # JSON, but not an event
    }


def _produce(settings: Settings, messages: dict[str, list[bytes]]) -> list[tuple[str, int, int]]:
    """Send every message; returns (topic, partition, offset) of each, in order."""
    sender = _raw_producer(settings)
    try:
        futures = [
            sender.send(settings.topic(key).name, value=value)
            for key, values in messages.items()
            for value in values
        ]
        sender.flush(timeout=30)
        sent = [future.get(timeout=30) for future in futures]
    finally:
        sender.close(timeout=5)
    return [(m.topic, m.partition, m.offset) for m in sent]


def _table_counts(run: SinkRun, table: str) -> tuple[int, int, int]:
    """(rows, rows under FINAL, distinct event ids) of one table."""
    sql = (
        f"SELECT (SELECT count() FROM {run.db}.{table}) AS raw, "
        f"(SELECT count() FROM {run.db}.{table} FINAL) AS final, "
        f"(SELECT uniqExact(event_id) FROM {run.db}.{table}) AS distinct_ids"
    )
    row = run.reader().query_df(sql).iloc[0]
    return int(row["raw"]), int(row["final"]), int(row["distinct_ids"])


def _deadletter_topic_records(run: SinkRun) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        run.topic("deadletter"),
        bootstrap_servers=run.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        **client_security(run.settings.as_kafka_role("sink"), "kafka-python"),
    )
    try:
        values = [message.value for message in consumer]
    finally:
        consumer.close()
    records = []
    for value in values:
        try:
            records.append(json.loads(value))
        except ValueError:
            records.append({"raw": value})
    return records


@dataclass(frozen=True)
class Loaded:
    """A sink that has stored valid events, poison messages and a tombstone."""

    run: SinkRun
    produced: dict[str, int]  # rows per table
    poison_at: list[tuple[str, int, int]]  # (topic, partition, offset) of each poison message


@pytest.fixture(scope="module")
def loaded(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    with _sink_world(tmp_path_factory.mktemp("loaded-sink")) as run:
        # Given valid events of several types, poison messages, a tombstone and a malformed
        # message on the dead-letter topic itself, all waiting in Kafka
        valid = _valid_events(run)
        _produce(run.settings, valid)
        poison_at = _produce(run.settings, _poison(run))
        _produce(run.settings, {"deadletter": [b"garbage on the dead-letter topic"]})
        tombstone = _raw_producer(run.settings)
        try:
            tombstone.send(run.topic("feedback"), key=b"gone", value=None).get(timeout=30)
        finally:
            tombstone.close(timeout=5)
        produced: dict[str, int] = {}
        for key, values in valid.items():
            table = run.settings.topic(key).table
            produced[table] = produced.get(table, 0) + len(values)

        # When the sink runs
        run.start()
        _wait_until(
            lambda: (
                _table_counts(run, "deadletters")[1] == len(poison_at)
                and all(_table_counts(run, t)[2] >= n for t, n in produced.items())
            ),
            timeout_s=45,
            what="every event and dead letter in ClickHouse",
        )
        time.sleep(1.0)  # a straggling duplicate would land now
        yield Loaded(run, produced, poison_at)


def test_events_are_stored_once_and_poison_is_dead_lettered(loaded: Loaded) -> None:
    sink_run, produced, poison_at = loaded.run, loaded.produced, loaded.poison_at
    # Then every event is stored exactly once (as FINAL and distinct ids count)
    for table, n in produced.items():
        raw, final, distinct_ids = _table_counts(sink_run, table)
        print(f"{table}: produced {n}, raw rows {raw} ({raw - distinct_ids} raw duplicates)")
        assert final == distinct_ids == n, table
    minimal = sink_run.reader().query_df(
        f"SELECT uniqExact(id) AS ids, countIf(event_id = '') AS blank "
        f"FROM {sink_run.db}.score_requests FINAL"
    )
    assert int(minimal["ids"].iloc[0]) == produced["score_requests"]
    assert int(minimal["blank"].iloc[0]) == 0

    # And each poison message is in the dead-letter table with its reason, once
    stored = sink_run.reader().query_df(
        f"SELECT source_topic, source_partition, source_offset, error_type, reason "
        f"FROM {sink_run.db}.deadletters FINAL"
    )
    where = {(r.source_topic, r.source_partition, r.source_offset) for r in stored.itertuples()}
    assert where == set(poison_at)
    assert set(stored["error_type"]) == {"decode", "schema"}
    assert stored["reason"].str.len().min() > 0
    assert stored["reason"].str.contains("no gateway served").sum() == 1
    assert stored["reason"].str.contains("actual_price_lakhs").sum() == 1
    # and on the dead-letter topic: the malformed one there was not dead-lettered again
    records = _deadletter_topic_records(sink_run)
    from_sink = [r for r in records if str(r.get("consumer", "")).startswith("sink-")]
    assert len(records) == len(poison_at) + 1 and len(from_sink) == len(poison_at)

    # And /metrics says so
    metrics = httpx.get(f"{sink_run.url}/metrics", timeout=5).text
    dead = [m for m in metrics.splitlines() if m.startswith("splitstream_sink_dead_letters_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in dead) == len(poison_at)
    assert 'splitstream_sink_skipped_total{reason="malformed_dead_letter"} 1.0' in metrics
    assert 'splitstream_sink_skipped_total{reason="tombstone"} 1.0' in metrics
    assert "splitstream_sink_batch_insert_seconds_bucket" in metrics
    assert 'splitstream_sink_consumer_lag{partition="0",topic="' in metrics


def test_the_query_endpoint_answers_reads_and_refuses_writes(loaded: Loaded) -> None:
    run = loaded.run
    query = f"{run.url}/query"
    table = f"{run.db}.feedback"
    sql = f"SELECT count() AS n, {{x:UInt8}} AS x FROM {table} FINAL"

    token = run.settings.query_token
    assert token is not None
    auth = {"authorization": f"Bearer {token.get_secret_value()}"}
    anonymous = httpx.post(query, json={"sql": sql, "params": {"x": 7}}, timeout=10)
    assert anonymous.status_code == 401, anonymous.text
    answer = httpx.post(query, json={"sql": sql, "params": {"x": 7}}, headers=auth, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["columns"] == ["n", "x"]
    assert answer.json()["types"] == ["UInt64", "UInt8"]
    assert answer.json()["rows"] == [[loaded.produced["feedback"], 7]]

    insert_sql = f"INSERT INTO {table} (event_id) VALUES ('x')"
    insert = httpx.post(query, json={"sql": insert_sql}, headers=auth)
    drop = httpx.post(query, json={"sql": f"DROP TABLE {table}"}, headers=auth)
    assert insert.status_code == 403 and insert.json()["error"] == "refused", insert.text
    assert drop.status_code == 403 and drop.json()["error"] == "refused", drop.text
    tables = run.reader().query_df(f"SHOW TABLES FROM {run.db}")
    assert "feedback" in set(tables.iloc[:, 0])
    assert run.count("SELECT count() FROM $db.feedback FINAL") == loaded.produced["feedback"]


def _cli(run: SinkRun, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env={**os.environ, **run.service.env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_splitstream_query_prints_rows_and_refuses_a_write(loaded: Loaded) -> None:
    run = loaded.run
    sql = f"SELECT variant, count() AS n FROM {run.db}.replies FINAL GROUP BY variant"

    as_json = _cli(run, "query", sql, "--format", "json")
    refused = _cli(run, "query", f"DROP TABLE {run.db}.feedback")

    assert as_json.returncode == 0, as_json.stderr
    assert sum(r["n"] for r in json.loads(as_json.stdout)) == loaded.produced["replies"]
    assert refused.returncode == 1 and "refused" in refused.stderr


# --------------------------------------------------------------------------- SIGKILL


def _load(count: int, run: SinkRun) -> dict[str, list[bytes]]:
    """``count`` score requests without an envelope and ``count`` feedback events."""
    feedback = _example("feedback/valid/actual_price")
    minimal = _example("score.request/valid/minimal")
    return {
        "score_requests": [
            json.dumps({**minimal, "id": f"kill-{i}"}).encode() for i in range(count)
        ],
        "feedback": [
            json.dumps(
                {**feedback, "event_id": str(uuid.uuid4()), "request_id": run.served_id()}
            ).encode()
            for _ in range(count)
        ],
    }


def _committed(run: SinkRun) -> int:
    """Messages the sink's group has committed, over all its partitions."""
    group = run.settings.topic_prefix + run.settings.sink_group
    admin = KafkaAdminClient(
        bootstrap_servers=run.settings.kafka_bootstrap,
        **client_security(run.settings.as_kafka_role("admin"), "kafka-python"),
    )
    try:
        offsets = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    return sum(max(o.offset, 0) for o in offsets.values())


def _ch_time(moment: datetime) -> str:
    return f"toDateTime64('{moment.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}', 3, 'UTC')"


def _distinct(run: SinkRun) -> int:
    return _table_counts(run, "score_requests")[2] + _table_counts(run, "feedback")[2]


def test_a_sink_killed_mid_load_loses_nothing_and_duplicates_nothing(sink_run: SinkRun) -> None:
    # Given a backlog of 2 x 10,000 events
    per_topic = 10_000
    total = 2 * per_topic
    _produce(sink_run.settings, _load(per_topic, sink_run))

    # When the sink is SIGKILLed while it works through them: preferably between the
    # inserts of one batch (a count that is not a whole number of batches), so that
    # some stored rows are not committed yet and are read again after the restart
    sink_run.start()
    started = time.monotonic()
    batch_rows = sink_run.settings.sink_batch_rows
    seen = 0

    def mid_load() -> bool:
        nonlocal seen
        seen = sink_run.count(
            "SELECT (SELECT count() FROM $db.score_requests) + (SELECT count() FROM $db.feedback)"
        )
        return seen >= total * 0.6 or (seen >= total * 0.1 and seen % batch_rows != 0)

    _wait_until(mid_load, timeout_s=45, what="the sink to store part of the load", poll_s=0.01)
    sink_run.kill()
    killed_at = datetime.now(UTC)
    print(f"killed after {time.monotonic() - started:.1f} s with >= {seen}/{total} rows stored")
    assert seen < total, "the load was stored before the kill; the test proves nothing"
    committed = _committed(sink_run)

    # And restarted
    sink_run.start()
    _wait_until(lambda: _distinct(sink_run) >= total, timeout_s=60, what="the rest of the load")
    time.sleep(1.0)

    # Then every event is there once: nothing lost, no logical duplicate
    raw = final = distinct_ids = 0
    for table in ("score_requests", "feedback"):
        counts = _table_counts(sink_run, table)
        raw, final, distinct_ids = raw + counts[0], final + counts[1], distinct_ids + counts[2]
    print(
        f"after SIGKILL and restart: produced {total}, distinct {distinct_ids}, "
        f"FINAL {final}, raw rows {raw} ({raw - distinct_ids} raw duplicates, collapsed)"
    )
    before_kill = sum(
        sink_run.count(
            f"SELECT count() FROM $db.{table} WHERE _ingested_at <= {_ch_time(killed_at)}"
        )
        for table in ("score_requests", "feedback")
    )
    print(
        f"at the kill: {before_kill} rows stored, {committed} offsets committed: the restarted "
        f"sink re-read {before_kill - committed} stored messages"
    )
    assert distinct_ids == final == total
    ids = sink_run.reader().query_df(f"SELECT uniqExact(id) AS n FROM {sink_run.db}.score_requests")
    assert int(ids["n"].iloc[0]) == per_topic


def _several_topics(run: SinkRun) -> dict[str, list[bytes]]:
    """A backlog over five topics, two of which share a table (requests)."""

    def fresh(name: str, count: int) -> list[bytes]:
        example = _example(name)
        return [
            json.dumps({**example, "event_id": str(uuid.uuid4())}).encode() for _ in range(count)
        ]

    feedback = _example("feedback/valid/actual_price")

    minimal = _example("score.request/valid/minimal")
    return {
        "predict_requests_prod": fresh("predict.request/valid/random_shadow", 600),
        "predict_requests_candidate": fresh("predict.request/valid/hashed_http", 600),
        "predict_replies": fresh("predict.reply/valid/ok", 900),
        "feedback": [  # feedback must name a request a gateway served
            json.dumps(
                {**feedback, "event_id": str(uuid.uuid4()), "request_id": run.served_id()}
            ).encode()
            for _ in range(600)
        ],
        "score_requests": [json.dumps({**minimal, "id": f"half-{i}"}).encode() for i in range(600)],
    }


def _raw_rows(run: SinkRun, tables: set[str]) -> dict[str, tuple[int, int]]:
    """(raw rows, distinct event ids) per table."""
    return {table: _table_counts(run, table)[::2] for table in tables}


def test_a_sink_killed_between_the_inserts_of_a_batch_over_several_topics_stores_each_event_once(
    sink_run: SinkRun,
) -> None:
    # Given a backlog over several topics and partitions (one batch spans them)
    backlog = _several_topics(sink_run)
    _produce(sink_run.settings, backlog)
    produced: dict[str, int] = {}
    for key, values in backlog.items():
        table = sink_run.settings.topic(key).table
        produced[table] = produced.get(table, 0) + len(values)

    # When the sink SIGKILLs itself after the first insert of the first batch that spans
    # several tables: some tables hold part of that batch, others none of it, and its
    # offsets are not committed
    log_file = sink_run.service.log_file
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **sink_run.service.env, "SPLITSTREAM_FAILPOINTS": "sink.between_inserts"}
    with log_file.open("ab") as log:
        armed = subprocess.Popen(
            SINK_COMMAND, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        armed.wait(timeout=90)
    finally:
        if armed.poll() is None:
            armed.kill()
            armed.wait(timeout=10)
    killed_at = datetime.now(UTC)
    assert armed.returncode == -signal.SIGKILL
    assert "failpoint sink.between_inserts" in log_file.read_text()
    committed = _committed(sink_run)

    # And a sink with smaller batches takes over (its batches differ from the killed one's)
    sink_run.service = replace(
        sink_run.service, env={**sink_run.service.env, "SPLITSTREAM_SINK_BATCH_ROWS": "250"}
    )
    sink_run.start()
    _wait_until(
        lambda: all(d >= produced[t] for t, (_, d) in _raw_rows(sink_run, set(produced)).items()),
        timeout_s=60,
        what="every event of the backlog",
    )
    time.sleep(1.5)  # a duplicate would land now
    stored_before = sum(
        sink_run.count(
            f"SELECT count() FROM $db.{table} WHERE _ingested_at <= {_ch_time(killed_at)}"
        )
        for table in produced
    )
    print(f"killed with {stored_before} rows stored and {committed} offsets committed")

    # Then the kill left stored rows uncommitted, and still every event is stored exactly
    # once, counted raw (no FINAL)
    assert stored_before > committed
    counts = _raw_rows(sink_run, set(produced))
    print(f"raw rows and distinct ids per table: {counts}, produced {produced}")
    assert counts == {table: (n, n) for table, n in produced.items()}
