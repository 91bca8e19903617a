"""One ClickHouse interface, two engines: embedded chDB or a server via clickhouse-connect.

chDB lets one process hold a data folder at a time, so in the local stack the
sink owns it and other processes ask the sink. With ``clickhouse_url`` set,
every process may talk to the server directly. ``open_clickhouse_reader``
picks the right one for a process that only reads.
"""

import contextlib
import json
import re
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import pandas as pd

from plumbing.chdb_access import QueryLimits, reader_connection_string
from plumbing.errors import SplitstreamError
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


class ClickHouseQueryError(SplitstreamError):
    """A query was refused or failed; the message says why (as ClickHouse or the sink put it)."""


class SinkUnavailableError(SplitstreamError):
    """The sink's query endpoint did not answer: the sink is not running or not reachable."""


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


class SinkQueryClickHouse:
    """ClickHouse as the sink serves it to other processes: read-only SQL over HTTP.

    The sink owns chDB's data folder, so a reader in another process posts its query to
    the sink's ``/query`` and gets rows with their ClickHouse types back. ``token`` is
    the sink's reader token (``SPLITSTREAM_QUERY_TOKEN``), sent as a bearer token.
    """

    def __init__(
        self, base_url: str, database: str, *, token: str | None, timeout_s: float = 30.0
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"not an http URL: {base_url}")
        self.url = base_url.rstrip("/") + "/query"
        self.database = database
        self._timeout_s = timeout_s
        self._headers = {"content-type": "application/json"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"

    def command(self, sql: str) -> None:
        raise ClickHouseQueryError("the sink's query endpoint is read-only: no commands")

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        raise ClickHouseQueryError("the sink's query endpoint is read-only: no inserts")

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        answer = self.query_rows(sql, params)
        return frame_from_rows(answer["columns"], answer["types"], answer["rows"])

    def query_rows(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The sink's answer: ``columns``, ``types`` (ClickHouse's) and ``rows`` (lists).

        Raises:
            ClickHouseQueryError: the sink refused the statement or ClickHouse failed it.
            SinkUnavailableError: nothing answered at the sink's URL.
        """
        body = json.dumps({"sql": sql, "params": params or {}}, default=_param_json).encode()
        request = urllib.request.Request(  # noqa: S310 (the URL is checked in __init__)
            self.url, data=body, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            raise ClickHouseQueryError(_error_reason(error)) from error
        except (urllib.error.URLError, OSError) as error:
            raise SinkUnavailableError(
                f"the sink did not answer at {self.url} ({error}); "
                "start it with `splitstream sink` (or `splitstream up`)"
            ) from error

    def close(self) -> None:
        """Nothing to release: every query is one HTTP request."""


def _error_reason(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read())
        return f"{body['error']}: {body['reason']}"
    except (ValueError, KeyError, TypeError, OSError):
        return f"the sink answered HTTP {error.code}"


def _param_json(value: Any) -> Any:
    """Query parameters JSON cannot carry: times as ClickHouse reads them (UTC), numbers."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def _json_document(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {"meta": [], "data": []}
    document: dict[str, Any] = json.loads(raw)
    return document


_INTEGER = re.compile(r"U?Int(8|16|32|64)")


def _unwrap(ch_type: str) -> tuple[str, bool]:
    """The type inside LowCardinality(...) and Nullable(...), and whether NULL is allowed."""
    nullable = False
    for wrapper in ("LowCardinality(", "Nullable("):
        if ch_type.startswith(wrapper) and ch_type.endswith(")"):
            ch_type = ch_type[len(wrapper) : -1]
            nullable = nullable or wrapper == "Nullable("
    return ch_type, nullable


def _column(values: list[Any], ch_type: str) -> pd.Series:
    base, nullable = _unwrap(ch_type)
    if base.startswith("DateTime"):
        zoned = "'" in base  # DateTime64(3, 'UTC'): ClickHouse writes it in that zone
        times = pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
        if zoned:
            zone = base.split("'")[1]
            times = times.dt.tz_localize(zone)
        return times
    if base.startswith("Date"):
        return pd.to_datetime(pd.Series(values, dtype=object), format="ISO8601")
    if _INTEGER.fullmatch(base):
        numbers = [None if v is None else int(v) for v in values]  # 64-bit ones may be quoted
        return pd.Series(numbers, dtype=base if nullable else base.lower())
    if base.startswith(("Float", "Decimal")):
        return pd.Series([None if v is None else float(v) for v in values], dtype="float64")
    if base == "Bool":
        return pd.Series(values, dtype="boolean" if nullable else "bool")
    if base in ("String", "UUID") or base.startswith(("FixedString", "Enum")):
        return pd.Series(values, dtype="str" if values else "object")
    return pd.Series(values, dtype="object")


def frame_from_rows(columns: list[str], types: list[str], rows: list[list[Any]]) -> pd.DataFrame:
    """A DataFrame with dtypes as chDB's own ``query_df`` would give for these ClickHouse types."""
    by_column = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    return pd.DataFrame(
        {
            name: _column(list(values), ch_type)
            for name, ch_type, values in zip(columns, types, by_column, strict=True)
        }
    )


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


def sink_url(settings: ClickHouseSettings) -> str:
    """Where other processes reach the sink's HTTP endpoints."""
    host = "127.0.0.1" if settings.sink_host in ("0.0.0.0", "::", "") else settings.sink_host  # noqa: S104
    return f"http://{host}:{settings.sink_port}"


def open_clickhouse_reader(settings: ClickHouseSettings) -> ClickHouse:
    """ClickHouse for a process that only reads.

    The server as its read-only user when ``clickhouse_reader_url`` is set; else the
    server at ``clickhouse_url`` with ``readonly=2`` on each query; else the sink's
    read-only ``/query`` with the reader token (chDB's data belongs to the sink process).
    """
    if settings.clickhouse_reader_url:
        return ServerClickHouse(settings.clickhouse_reader_url, settings.clickhouse_database)
    if settings.clickhouse_url:
        return ServerClickHouse(
            settings.clickhouse_url, settings.clickhouse_database, readonly=True
        )
    token = settings.query_token.get_secret_value() if settings.query_token else None
    return SinkQueryClickHouse(
        sink_url(settings),
        settings.clickhouse_database,
        token=token,
        timeout_s=settings.sink_query_timeout_s,
    )


def create_tables(clickhouse: ClickHouse, database: str) -> None:
    """Create the database, the event tables and the analysis views of ``schemas/``.

    Idempotent: tables are created if missing, views replaced, so a restart brings
    every view up to ``views.sql``.
    """
    for statement in [*table_ddl(database), *view_ddl(database)]:
        clickhouse.command(statement)
