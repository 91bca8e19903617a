"""The sink's ClickHouse: a writer for the batches and a read-only reader for /query.

chDB runs in this process and is not safe to call from two threads at once, so both
go through one lock: an insert and a query never overlap. ClickHouse's own access
control makes the reader read-only (plumbing/chdb_access.py says what chDB enforces):

- chDB: the engine starts with a users file that grants user ``default`` its database
  and no sources; the reader is a second connection at ``readonly=1`` with the query
  limits, and each statement is first parsed by ClickHouse and its tree checked for
  what local mode leaves open (consumers/statements.py).
- a server: the reader logs in as ``SPLITSTREAM_CLICKHOUSE_READER_URL``'s user (a
  read-only user with grants, as compose.yaml makes it), or, when only the writer's URL
  is set, sends ``readonly=2`` with every query.
"""

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from consumers.errors import QueryRefusedError, SinkError
from consumers.settings import SinkSettings
from consumers.statements import PARSE_SQL, check_tree_json, escaped, parse_error_reason
from plumbing.chdb_access import write_access_config
from plumbing.clickhouse import ChdbClickHouse, ServerClickHouse, query_limits


class QueryEngine(Protocol):
    """A ClickHouse adapter of ``plumbing.clickhouse`` that also answers in JSON."""

    def command(self, sql: str) -> None: ...
    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame: ...
    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...
    def insert_df(
        self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None
    ) -> None: ...
    def close(self) -> None: ...


class SerialClickHouse:
    """``inner`` called by one thread at a time, under a lock shared with its siblings."""

    def __init__(self, inner: QueryEngine, lock: threading.Lock) -> None:
        self._inner = inner
        self._lock = lock

    def command(self, sql: str) -> None:
        with self._lock:
            self._inner.command(sql)

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self._lock:
            return self._inner.query_df(sql, params)

    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._lock:
            return self._inner.query_json(sql, params)

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        with self._lock:
            self._inner.insert_df(table, df, dedup_token=dedup_token)

    def close(self) -> None:
        with self._lock:
            self._inner.close()


class CheckedReader(SerialClickHouse):
    """The chDB reader of /query: ClickHouse parses each statement, its tree is checked."""

    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``sql`` if its syntax tree passes ``consumers.statements``.

        Raises:
            QueryRefusedError: the tree holds what the endpoint does not run.
        """
        with self._lock:
            try:
                parsed = self._inner.query_json(PARSE_SQL, {"statement": escaped(sql)})
            except Exception as error:  # ClickHouse's parse error: refused or a plain failure
                reason = parse_error_reason(str(error))
                if reason is None:
                    raise
                raise QueryRefusedError(reason) from error
            tree, echo = parsed["data"][0]
            if echo != sql:  # what was checked must be what runs
                raise QueryRefusedError("the statement did not reach ClickHouse's parser intact")
            check_tree_json(str(tree))
            return self._inner.query_json(sql, params)


@dataclass(frozen=True)
class SinkClickHouse:
    """The writer (batches, DDL) and the read-only reader (/query), sharing one lock."""

    writer: SerialClickHouse
    reader: SerialClickHouse

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


def open_sink_clickhouse(settings: SinkSettings) -> SinkClickHouse:
    """The server when ``clickhouse_url`` is set, else chDB in the state folder (owned here)."""
    lock = threading.Lock()
    database = settings.clickhouse_database
    writer: QueryEngine
    reader: QueryEngine
    if settings.clickhouse_url:
        writer = ServerClickHouse(settings.clickhouse_url, database)
        if settings.clickhouse_reader_url:
            reader = ServerClickHouse(settings.clickhouse_reader_url, database)
        else:
            reader = ServerClickHouse(settings.clickhouse_url, database, readonly=True)
        return SinkClickHouse(SerialClickHouse(writer, lock), SerialClickHouse(reader, lock))
    settings.chdb_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    access = write_access_config(settings.state_dir / "chdb-access", database)
    try:
        writer = ChdbClickHouse(str(settings.chdb_path), database, access_config=access)
    except Exception as error:  # chDB says "Error initializing EmbeddedServer" and no more
        raise SinkError(
            f"cannot open chDB in {settings.chdb_path}: {error}; only one process may hold "
            "it: is another sink running?"
        ) from error
    try:
        # Opened second: a readonly=1 connection to the data the writer holds.
        reader = ChdbClickHouse(
            str(settings.chdb_path), database, readonly=True, limits=query_limits(settings)
        )
    except Exception:
        writer.close()
        raise
    return SinkClickHouse(SerialClickHouse(writer, lock), CheckedReader(reader, lock))
