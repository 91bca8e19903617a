"""Read-only SQL that really is: the running sink's /query against real chDB.

Every probe goes through a real ``python -m cli sink`` process, as any other process
must reach chDB. ClickHouse's own access control does the refusing (readonly=1, a
user granted only the sink's database and no sources, limits that cannot be changed);
the syntax-tree check covers what chDB's local mode leaves open (plumbing/chdb_access.py
says which). The analysts' queries of docs/analysts.md still run through the same door.
"""

import re
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from cli.settings import Settings, load_settings
from clients.sink_query import sink_url
from plumbing.chdb_access import write_access_config
from plumbing.clickhouse import ChdbClickHouse, create_tables
from plumbing.settings import PROJECT_ROOT
from stack import kafka_access, supervisor
from stack.ports import free_port
from stack.private import kafka_passwords_env
from stack.supervisor import ServiceProcess
from tests.integration.test_analyst_queries_chdb import EXAMPLES_OF_DOC

#: ClickHouse's refusals: READONLY, ACCESS_DENIED, DATABASE_ACCESS_DENIED, SUPPORT_IS_DISABLED.
CLICKHOUSE_REFUSAL = re.compile(r"Code: (164|497|291|344)\.")
#: What a function could only return by reading outside the database.
OUTSIDE_MARKER = "root:x:0:0"

#: Arguments tried for each table function until ClickHouse answers with a refusal: a file,
#: a URL, a server, a program, a table of the sink, a Python object of the sink, ….
ARGUMENTS = (
    "('/etc/passwd', 'LineAsString')",
    "('http://127.0.0.1:9/bucket/x.csv', 'CSV', 'a String')",
    "('127.0.0.1:9', 'db', 'tbl', 'user', 'pass')",
    "('127.0.0.1:9', system.one)",
    "('ls', 'TSV', 'x String')",
    "('hdfs://127.0.0.1:9/x', 'CSV', 'a String')",
    "('/etc/passwd', 't')",
    "($db.requests)",
    "('$db', 'requests')",
    "(settings)",
    "('DefaultEndpointsProtocol=http;AccountName=a;AccountKey=YQ==;"
    "BlobEndpoint=http://127.0.0.1:9/a;', 'c', 'b.csv', 'CSV', 'a String')",
    "('127.0.0.1:9', 'k', 'k String, v String')",
    "(CSV, '1')",
    "('DSN=x', 'db', 't')",
    "('x')",
    "('$db', 'requests', 'up', 0, 1)",
    "('EXPLAIN', 'actions = 1', (SELECT 1))",
    "()",
)
#: Table functions whose target cannot exist for the reader, so ClickHouse stops them before
#: any access check (each with the error that proves it): no cluster is configured
#: (system.clusters is empty), chDB's Arrow stream registry is empty, there is no
#: TimeSeries table (the reader cannot create one), and no DataFrame is in the query
#: handler's frames for python() (test_chdb_itself_refuses… shows the refusal with one).
NOTHING_TO_REACH = {
    "Cluster": "Code: 701.",
    "arrowstream": "Code: 47.",
    "timeSeries": "Code: 727.",
    "python": "PyReader",
}


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


class Sink:
    """A running sink: its URL, database, token, and a way to post SQL."""

    def __init__(self, settings: Settings, token: str) -> None:
        self.settings = settings
        self.url = sink_url(settings)
        self.db = settings.clickhouse_database
        self.token = token

    def post(
        self, sql: str, *, token: str | None = None, anonymous: bool = False, **params: Any
    ) -> httpx.Response:
        """Post ``sql`` ($db: the sink's database) with this sink's token, or ``token``."""
        headers = {}
        if not anonymous:
            headers["authorization"] = f"Bearer {self.token if token is None else token}"
        body = {"sql": sql.replace("$db", self.db), "params": params}
        return httpx.post(f"{self.url}/query", json=body, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def sink(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sink]:
    folder = tmp_path_factory.mktemp("query-access")
    suffix = uuid.uuid4().hex[:8]
    token = secrets.token_urlsafe(16)
    env = {
        "SPLITSTREAM_TOPIC_PREFIX": f"qa-{suffix}.",
        "SPLITSTREAM_STATE_DIR": str(folder / "state"),
        "SPLITSTREAM_SINK_PORT": str(free_port()),
        "SPLITSTREAM_CLICKHOUSE_DATABASE": f"qa_{suffix}",
        "SPLITSTREAM_QUERY_TOKEN": token,
        "SPLITSTREAM_REQUEST_ID_KEY": secrets.token_urlsafe(32),  # the sink needs one to start
        "SPLITSTREAM_SINK_QUERY_MAX_EXECUTION_S": "3",
        "SPLITSTREAM_SINK_QUERY_MAX_MEMORY_MB": "200",
        "SPLITSTREAM_SINK_QUERY_MAX_RESULT_ROWS": "50000",
        **kafka_passwords_env(stack),  # its own state folder: no local.env there
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        settings = load_settings()
    kafka_access.provision(settings)
    url = sink_url(settings)
    service = ServiceProcess(
        name=f"sink-qa-{suffix}",
        command=[sys.executable, "-m", "cli", "sink"],
        ports=[settings.sink_port],
        log_file=folder / "sink.log",
        run_dir=folder / "run",
        is_ready=lambda: _healthy(url),
        start_timeout_s=60.0,
        env=env,
        cwd=PROJECT_ROOT,
    )
    supervisor.start(service)
    try:
        yield Sink(settings, token)
    finally:
        supervisor.stop(service, grace_s=15.0)


def _refused_by_clickhouse(answer: httpx.Response) -> bool:
    return answer.status_code == 403 and bool(CLICKHOUSE_REFUSAL.search(answer.json()["reason"]))


# --------------------------------------------------------------------------- the token


def test_query_without_or_with_a_wrong_token_is_401(sink: Sink) -> None:
    answers = [
        sink.post("SELECT 1", anonymous=True),
        sink.post("SELECT 1", token="not-the-token"),
        sink.post("SELECT 1", token="Bearer"),
    ]

    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"] == "unauthorized"
    assert sink.post("SELECT 1").status_code == 200


# --------------------------------------------------------------------------- the bypasses


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM `file`('/etc/passwd', 'LineAsString')",
        "SELECT /* /* */ -- */ * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT $$x$$ AS s, * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/x.csv', 'CSV', 'a String')",
        "SELECT * FROM file('local.env', 'LineAsString')",
    ],
)
def test_the_known_bypasses_are_refused_by_clickhouse(sink: Sink, sql: str) -> None:
    refused = sink.post(sql)

    assert _refused_by_clickhouse(refused), refused.text
    assert OUTSIDE_MARKER not in refused.text


def test_insert_into_function_file_writes_nothing(sink: Sink, tmp_path: Path) -> None:
    target = tmp_path / "written.csv"

    answer = sink.post(f"INSERT INTO FUNCTION file('{target}', 'CSV', 'a String') VALUES ('x')")

    assert answer.status_code == 403 and answer.json()["error"] == "refused", answer.text
    assert not target.exists()


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("SELECT file('/etc/passwd') AS f", "file() reads outside"),
        ("SELECT arrayMap(p -> file(p), ['/etc/passwd']) AS f", "file() reads outside"),
        ("SELECT 1 INTO OUTFILE '$out'", "INTO OUTFILE"),
        ("SELECT 1 FORMAT CSV", "FORMAT"),
        ("KILL QUERY WHERE 1", "not a read-only statement"),
        ("SELECT 1; SELECT 2", "several statements"),
        ("DROP TABLE $db.feedback", "not a read-only statement"),
        ("INSERT INTO $db.feedback (event_id) VALUES ('x')", "syntax tree"),
    ],
)
def test_what_chdb_leaves_open_is_refused_on_clickhouses_own_parse(
    sink: Sink, tmp_path: Path, sql: str, why: str
) -> None:
    out = tmp_path / "out.csv"

    answer = sink.post(sql.replace("$out", str(out)))

    assert answer.status_code == 403 and why in answer.json()["reason"], answer.text
    assert OUTSIDE_MARKER not in answer.text and not out.exists()


def test_settings_and_limits_cannot_be_changed_and_hold(sink: Sink) -> None:
    for sql in ("SELECT 1 SETTINGS readonly = 0", "SELECT 1 SETTINGS max_result_rows = 0"):
        assert _refused_by_clickhouse(sink.post(sql)), sql
    too_many = sink.post("SELECT number FROM numbers(60000)")
    too_long = sink.post("SELECT count() FROM numbers(100000000000) WHERE sipHash64(number) = 1")
    too_big = sink.post("SELECT groupArray(number) FROM numbers(100000000)")

    for answer, code in ((too_many, "396"), (too_long, "159"), (too_big, "241")):
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"] == "limit_exceeded" and f"Code: {code}." in answer.text


def test_only_the_sinks_database_is_visible(sink: Sink) -> None:
    databases = sink.post("SELECT name FROM system.databases").json()["rows"]
    merged = sink.post("SELECT count() AS n FROM merge('system', '.*')")

    assert databases == [[sink.db]]
    assert merged.status_code != 200 or merged.json()["rows"] == [[0]], merged.text


# --------------------------------------------------------------------------- every table function


def _table_functions(sink: Sink) -> list[tuple[str, bool]]:
    answer = sink.post("SELECT name, allow_readonly FROM system.table_functions ORDER BY name")
    assert answer.status_code == 200, answer.text
    return [(name, bool(flag)) for name, flag in answer.json()["rows"]]


def _probe(sink: Sink, name: str) -> list[httpx.Response]:
    """Each argument list in turn, stopping at the first refusal by ClickHouse."""
    answers = []
    for arguments in ARGUMENTS:
        answers.append(sink.post(f"SELECT * FROM {name}{arguments} LIMIT 5"))
        if _refused_by_clickhouse(answers[-1]):
            break
    return answers


def test_every_table_function_that_reaches_outside_is_refused_by_clickhouse(sink: Sink) -> None:
    functions = _table_functions(sink)
    outside = [name for name, allow_readonly in functions if not allow_readonly]
    assert len(functions) > 80 and len(outside) > 60  # ClickHouse 26.9 lists 94, 71 of them 0
    assert sink.post("SELECT count() FROM system.clusters").json()["rows"] == [[0]]

    not_refused = {}
    for name in outside:
        answers = _probe(sink, name)
        assert all(OUTSIDE_MARKER not in a.text and a.status_code != 200 for a in answers), name
        if _refused_by_clickhouse(answers[-1]):
            continue
        why = next((code for part, code in NOTHING_TO_REACH.items() if part in name), None)
        if why is None or not any(why in a.text for a in answers):
            not_refused[name] = answers[-1].text[:200]
    assert not_refused == {}


def test_table_functions_clickhouse_allows_read_only_read_nothing_outside(sink: Sink) -> None:
    inside = [name for name, allow_readonly in _table_functions(sink) if allow_readonly]
    assert "numbers" in inside and "merge" in inside

    for name in inside:
        for arguments in ARGUMENTS:
            answer = sink.post(f"SELECT * FROM {name}{arguments} LIMIT 5")
            assert OUTSIDE_MARKER not in answer.text, (name, arguments)
            assert sink.token not in answer.text, (name, arguments)
    for sql in (
        "SELECT * FROM view(SELECT * FROM file('/etc/passwd', 'LineAsString'))",
        "SELECT * FROM cluster('default', system.one)",
        "SELECT * FROM eval('SELECT 1')",
    ):
        answer = sink.post(sql)
        assert answer.status_code in (400, 403) and OUTSIDE_MARKER not in answer.text, sql


# --------------------------------------------------------------------------- what still runs


def test_the_analysts_queries_still_run(sink: Sink) -> None:
    for example in EXAMPLES_OF_DOC:
        sql = example.sql.replace("splitstream.", f"{sink.db}.")
        answer = sink.post(sql)

        assert answer.status_code == 200, (example.question, answer.text)


def test_show_tables_and_explain_run(sink: Sink) -> None:
    tables = sink.post("SHOW TABLES FROM $db")
    explained = sink.post("EXPLAIN SELECT count() FROM $db.requests")

    assert tables.status_code == 200 and ["requests"] in tables.json()["rows"]
    assert explained.status_code == 200, explained.text


# --------------------------------------------------------------------------- chDB itself


def test_chdb_itself_refuses_what_the_reader_must_not_do(tmp_path: Path) -> None:
    """The engine's own enforcement, with the tree check out of the way: grants and readonly=1.

    It also pins down what chDB leaves to the tree check (plumbing/chdb_access.py).
    """
    access = write_access_config(tmp_path / "access", "own")
    writer = ChdbClickHouse(str(tmp_path / "chdb"), "own", access_config=access)
    reader = ChdbClickHouse(str(tmp_path / "chdb"), "own", readonly=True)
    target = tmp_path / "written.csv"
    frame = pd.DataFrame({"secret": ["x"]})  # noqa: F841 (what Python(frame) would read)
    try:
        create_tables(writer, "own")
        for sql in (
            f"INSERT INTO FUNCTION file('{target}', 'CSV', 'a String') VALUES ('x')",
            "SELECT * FROM file('/etc/passwd', 'LineAsString')",
            "SELECT 1 SETTINGS readonly = 0",
            "DROP TABLE own.feedback",
            "SELECT * FROM Python(frame)",
        ):
            with pytest.raises(Exception, match=CLICKHOUSE_REFUSAL):
                reader.query_json(sql)
        with pytest.raises(Exception, match=r"READ ON FILE"):
            writer.query_df("SELECT * FROM file('/etc/passwd', 'LineAsString')")
        assert not target.exists()
        # Left open by chDB's local mode; the tree check refuses it (tested above).
        passwd = reader.query_json("SELECT file('/etc/passwd') AS f")["data"][0][0]
        assert OUTSIDE_MARKER in passwd
    finally:
        reader.close()
        writer.close()
