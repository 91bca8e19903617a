"""The sink's ClickHouse: a writer for the batches and a read-only reader for /query.

chDB runs in this process and is not safe to call from two threads at once, so both
go through one lock: an insert and a query never overlap. The reader is a second
connection opened read-only (chDB ``mode=ro``, or ``readonly=2`` on a server), so
ClickHouse itself refuses what the statement check might let through.
"""

import threading
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

from consumers.errors import SinkError
from plumbing.clickhouse import ChdbClickHouse, ServerClickHouse
from plumbing.settings import Settings


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


@dataclass(frozen=True)
class SinkClickHouse:
    """The writer (batches, DDL) and the read-only reader (/query), sharing one lock."""

    writer: SerialClickHouse
    reader: SerialClickHouse

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


def open_sink_clickhouse(settings: Settings) -> SinkClickHouse:
    """The server when ``clickhouse_url`` is set, else chDB in the state folder (owned here)."""
    lock = threading.Lock()
    database = settings.clickhouse_database
    writer: QueryEngine
    reader: QueryEngine
    if settings.clickhouse_url:
        writer = ServerClickHouse(settings.clickhouse_url, database)
        reader = ServerClickHouse(settings.clickhouse_url, database, readonly=True)
    else:
        settings.chdb_path.mkdir(parents=True, exist_ok=True)
        try:
            writer = ChdbClickHouse(str(settings.chdb_path), database)
        except Exception as error:  # chDB says "Error initializing EmbeddedServer" and no more
            raise SinkError(
                f"cannot open chDB in {settings.chdb_path}: {error}; only one process may hold "
                "it: is another sink running?"
            ) from error
        try:
            # Opened second: a read-only connection to the data the writer holds.
            reader = ChdbClickHouse(str(settings.chdb_path), database, readonly=True)
        except Exception:
            writer.close()
            raise
    return SinkClickHouse(SerialClickHouse(writer, lock), SerialClickHouse(reader, lock))
