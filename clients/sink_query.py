"""Read-only SQL through the sink's ``/query``, and the ClickHouse reader a process opens.

chDB lets one process hold a data folder at a time, so in the local stack the sink owns
it and other processes post their queries to it (``SinkQueryClickHouse``). With
``clickhouse_url`` set, a reader talks to the server directly. ``open_clickhouse_reader``
picks the right one for a process that only reads.
"""

import json
import re
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from plumbing.clickhouse import ClickHouse, ServerClickHouse
from plumbing.errors import ClickHouseQueryError, SinkUnavailableError
from plumbing.settings import ClickHouseSettings


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
