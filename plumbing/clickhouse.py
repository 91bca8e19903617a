"""One ClickHouse interface, two engines: embedded chDB or a server via clickhouse-connect.

chDB lets one process hold a data folder at a time, so in the local stack the
sink owns it and other processes ask the sink. With ``clickhouse_url`` set,
every process may talk to the server directly.
"""

from typing import Any, Protocol
from urllib.parse import urlparse

import pandas as pd

from plumbing.settings import Settings
from schemas.registry import table_ddl


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


class ChdbClickHouse:
    """ClickHouse embedded in this process through chDB, data in ``path``."""

    def __init__(self, path: str, database: str) -> None:
        from chdb import session  # imported here: loading the engine is slow

        self._session = session.Session(path)
        self.database = database

    def command(self, sql: str) -> None:
        self._session.query(sql)

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        result: pd.DataFrame = self._session.query(sql, "DataFrame", params=params or {})
        return result

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        # chDB reads the DataFrame by its variable name from this frame.
        batch = df  # noqa: F841
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

    def __init__(self, url: str, database: str) -> None:
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

    def command(self, sql: str) -> None:
        self._client.command(sql)

    def query_df(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        result: pd.DataFrame = self._client.query_df(sql, parameters=params)
        return result

    def insert_df(self, table: str, df: pd.DataFrame, *, dedup_token: str | None = None) -> None:
        settings: dict[str, Any] = {}
        if dedup_token is not None:
            settings["insert_deduplication_token"] = dedup_token
        self._client.insert_df(table, df, database=self.database, settings=settings)

    def close(self) -> None:
        self._client.close()


def _settings_clause(dedup_token: str | None) -> str:
    if dedup_token is None:
        return ""
    escaped = dedup_token.replace("\\", "\\\\").replace("'", "\\'")
    return f"SETTINGS insert_deduplication_token = '{escaped}'"


def open_clickhouse(settings: Settings) -> ClickHouse:
    """The server when ``clickhouse_url`` is set, else chDB in the state folder."""
    if settings.clickhouse_url:
        return ServerClickHouse(settings.clickhouse_url, settings.clickhouse_database)
    settings.chdb_path.mkdir(parents=True, exist_ok=True)
    return ChdbClickHouse(str(settings.chdb_path), settings.clickhouse_database)


def create_tables(clickhouse: ClickHouse, database: str) -> None:
    """Create the database and the event tables of ``schemas/`` (idempotent)."""
    for statement in table_ddl(database):
        clickhouse.command(statement)
