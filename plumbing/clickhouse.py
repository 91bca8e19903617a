"""One ClickHouse interface, two engines: embedded chDB or a server via clickhouse-connect.

chDB lets one process hold a data folder at a time, so in the local stack the
sink owns it and other processes ask the sink (``clients/sink_query.py``). With
``clickhouse_url`` set, every process may talk to the server directly.
"""

import contextlib
import json
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import pandas as pd

from plumbing.chdb_access import QueryLimits, reader_connection_string
from plumbing.settings import ClickHouseSettings
from schemas.registry import table_ddl, view_ddl


class ClickHouse(Protocol):
    """What Splitstream needs from ClickHouse, whichever engine runs it."""

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, INSERT … SELECT)."""

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run a query, with ``{name:Type}`` placeholders bound from ``params``."""

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        """Insert ``df`` into ``table``; a repeated ``dedup_token`` stores the batch once."""

    def close(self) -> None:
        """Release the engine (chDB frees its data folder)."""


#: Limits of a read-only query when none are given (the settings' defaults).
DEFAULT_QUERY_LIMITS = QueryLimits(
    max_execution_s=25.0, max_memory_bytes=1024 * 1024 * 1024, max_result_rows=1_000_000
)


def query_limits(settings: ClickHouseSettings) -> QueryLimits:
    """The limits every read-only query of the sink runs under."""
    return QueryLimits(
        max_execution_s=settings.sink_query_max_execution_s,
        max_memory_bytes=settings.sink_query_max_memory_mb * 1024 * 1024,
        max_result_rows=settings.sink_query_max_result_rows,
    )


class ChdbClickHouse:
    """ClickHouse embedded in this process through chDB, data in ``path``.

    ``access_config`` (plumbing/chdb_access.py) is read when this connection starts the
    engine (the first one of the process): it says what user ``default`` may do.
    ``readonly`` opens another connection to the same data at ClickHouse's
    ``readonly=1`` with ``limits``: no writes, DDL, settings changes or table functions
    that reach outside, and the limits cannot be changed on it (checked on chDB 4.4).
    """

    def __init__(
        self,
        path: str,
        database: str,
        *,
        readonly: bool = False,
        limits: QueryLimits = DEFAULT_QUERY_LIMITS,
        access_config: Path | None = None,
    ) -> None:
        from chdb import session  # imported here: loading the engine is slow

        if readonly:
            target = reader_connection_string(path, limits)
        elif access_config is not None:
            target = f"{path}?config-file={access_config.resolve()}"
        else:
            target = path
        self._session = session.Session(target)
        self.database = database

    def command(self, sql: str) -> None:
        self._session.query(sql)

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        result: pd.DataFrame = self._session.query(sql, "DataFrame", params=params or {})
        return result

    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result as ClickHouse's JSONCompact document: ``meta`` (name, type), ``data``."""
        try:
            result = self._session.query(sql, "JSONCompact", params=params or {})
        except Exception:
            # chDB 4.4 puts a failed query's (empty) JSON document in front of the next
            # result on the connection; a throwaway query takes it.
            with contextlib.suppress(Exception):
                self._session.query("SELECT 1", "JSONCompact")
            raise
        return _json_document(result.bytes())

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        # chDB reads the DataFrame by its variable name from this frame.
        batch = _python_table(df)  # noqa: F841
        columns = ", ".join(f"`{c}`" for c in df.columns)
        settings = _settings_clause(dedup_token)
        self._session.query(
            f"INSERT INTO {self.database}.{table} ({columns}) {settings} "  # noqa: S608
            f"SELECT {columns} FROM Python(batch)"
        )

    def close(self) -> None:
        self._session.close()


class ServerClickHouse:
    """A ClickHouse server reached over HTTP by clickhouse-connect."""

    def __init__(self, url: str, database: str, *, readonly: bool = False) -> None:
        import clickhouse_connect

        parsed = urlparse(url)
        self._client = clickhouse_connect.get_client(
            host=parsed.hostname or "localhost",
            port=parsed.port or 8123,
            username=parsed.username or "default",
            password=parsed.password or "",
            secure=parsed.scheme == "https",
        )
        self.database = database
        # readonly=2 on every query when the user may write (not exercised here: no server to
        # test on). A read-only user (SPLITSTREAM_CLICKHOUSE_READER_URL) needs none of it.
        self._query_settings: dict[str, Any] = {"readonly": 2} if readonly else {}

    def command(self, sql: str) -> None:
        self._client.command(sql, settings=self._query_settings)

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        result: pd.DataFrame = self._client.query_df(
            sql, parameters=params, settings=self._query_settings
        )
        return result

    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The result as ClickHouse's JSONCompact document: ``meta`` (name, type), ``data``."""
        raw = self._client.raw_query(
            sql, parameters=params, settings=self._query_settings, fmt="JSONCompact"
        )
        return _json_document(raw)

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        settings: dict[str, Any] = {}
        if dedup_token is not None:
            settings["insert_deduplication_token"] = dedup_token
        self._client.insert_df(table, df, database=self.database, settings=settings)

    def close(self) -> None:
        self._client.close()


def _json_document(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {"meta": [], "data": []}
    document: dict[str, Any] = json.loads(raw)
    return document


def _python_table(df: pd.DataFrame) -> Any:
    """What chDB's Python() reads ``df`` from: the frame itself, or Arrow if it holds lists.

    Python() reads an object column of lists as Nullable, which cannot become an Array
    column; an Arrow table carries the list type (empty lists get a string element type).
    """
    if not any(_holds_lists(df[name]) for name in df.columns):
        return df
    import pyarrow as pa  # chDB's own dependency

    table = pa.Table.from_pandas(df, preserve_index=False)
    for index, field in enumerate(table.schema):
        if pa.types.is_list(field.type) and pa.types.is_null(field.type.value_type):
            table = table.set_column(index, field.name, table[index].cast(pa.list_(pa.string())))
    return table


def _holds_lists(column: pd.Series) -> bool:
    if column.dtype != object:
        return False
    first = next((v for v in column if v is not None), None)
    return isinstance(first, list | tuple)


def _settings_clause(dedup_token: str | None) -> str:
    if dedup_token is None:
        return ""
    escaped = dedup_token.replace("\\", "\\\\").replace("'", "\\'")
    return f"SETTINGS insert_deduplication_token = '{escaped}'"


def create_tables(clickhouse: ClickHouse, database: str) -> None:
    """Create the database, the event tables and the analysis views of ``schemas/``.

    Idempotent: tables are created if missing, views replaced, so a restart brings
    every view up to ``views.sql``.
    """
    for statement in [*table_ddl(database), *view_ddl(database)]:
        clickhouse.command(statement)
