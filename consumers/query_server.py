"""The sink's HTTP endpoints: read-only SQL for other processes, /metrics and /healthz.

- ``POST /query`` with ``Authorization: Bearer <SPLITSTREAM_QUERY_TOKEN>`` and
  ``{"sql": "...", "params": {"name": value}}`` (``{name:Type}`` placeholders) answers
  ``{"columns", "types", "rows", "rows_count"}``: ClickHouse's column names and types,
  rows as JSON lists. No or a wrong token gets 401 ``{"error": "unauthorized", ...}``.
  What ClickHouse's access control refuses (writes, DDL, settings changes, table
  functions that reach outside, other databases), and what the syntax-tree check of
  consumers/statements.py refuses, gets 403 ``{"error": "refused", "reason": ...}``; a
  query past a limit (time, memory, result rows) 400 ``{"error": "limit_exceeded"}``;
  any other failure 400 ``{"error": "failed", ...}``; before the tables exist, 503.
- ``GET /metrics``: the sink's Prometheus metrics.
- ``GET /healthz``: 200 once the tables exist.

It runs on uvicorn in a daemon thread beside the consume loop and binds 127.0.0.1
unless told otherwise: the data is not meant to leave the machine by default.
"""

import hmac
import logging
import threading
import time
from typing import Annotated, Any, Protocol

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from consumers.errors import QueryRefusedError, SinkError
from consumers.metrics import SinkMetrics
from plumbing.http_server import QuietServer

log = logging.getLogger(__name__)

MAX_SQL_CHARS = 100_000
#: ClickHouse's codes for refusals: READONLY, ACCESS_DENIED, DATABASE_ACCESS_DENIED,
#: SUPPORT_IS_DISABLED (an experimental feature a setting would have to turn on).
REFUSED_CODES = ("Code: 164.", "Code: 497.", "Code: 291.", "Code: 344.")
#: TIMEOUT_EXCEEDED, MEMORY_LIMIT_EXCEEDED, TOO_MANY_ROWS_OR_BYTES.
LIMIT_CODES = ("Code: 159.", "Code: 241.", "Code: 396.")


class JsonReader(Protocol):
    def query_json(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]: ...


class QueryBody(BaseModel):
    """A read-only statement and the values of its ``{name:Type}`` placeholders."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS)
    params: dict[str, Any] = Field(default_factory=dict)


def _error(status: int, error: str, reason: str) -> JSONResponse:
    return JSONResponse({"error": error, "reason": reason}, status_code=status)


def _authorized(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def create_app(
    *,
    reader: JsonReader,
    metrics: SinkMetrics,
    ready: threading.Event,
    query_token: SecretStr | None,
) -> FastAPI:
    """The endpoints over ``reader`` (the read-only connection); ``ready`` once tables exist.

    Raises:
        SinkError: no ``query_token``: /query would be open to every local process.
    """
    if query_token is None or not query_token.get_secret_value():
        raise SinkError(
            "no query token (SPLITSTREAM_QUERY_TOKEN): /query must not be open; "
            "run `splitstream stack up` to generate one into local.env"
        )
    token = query_token.get_secret_value()
    app = FastAPI(
        title="Splitstream sink",
        summary="Read-only SQL over the event tables.",
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid body"}
        where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
        return _error(422, "invalid_request", f"{where}: {first['msg']}")

    @app.post("/query")
    def query(body: QueryBody, authorization: Annotated[str | None, Header()] = None) -> Response:
        if not _authorized(authorization, token):
            metrics.queries.labels("unauthorized").inc()
            return _error(401, "unauthorized", "authorization: send Bearer <query token>")
        if not ready.is_set():
            return _error(503, "not_ready", "the sink is still creating its tables")
        started = time.perf_counter()
        try:
            document = reader.query_json(body.sql, body.params)
        except QueryRefusedError as refused:
            metrics.queries.labels("refused").inc()
            return _error(403, "refused", str(refused))
        except Exception as error:  # ClickHouse's message is the reason the caller needs
            reason = str(error).strip()
            if any(code in reason for code in REFUSED_CODES):
                metrics.queries.labels("refused").inc()
                return _error(403, "refused", reason)
            if any(code in reason for code in LIMIT_CODES):
                metrics.queries.labels("limit_exceeded").inc()
                return _error(400, "limit_exceeded", reason)
            metrics.queries.labels("failed").inc()
            return _error(400, "failed", reason)
        metrics.queries.labels("ok").inc()
        meta = document.get("meta", [])
        rows = document.get("data", [])
        return JSONResponse(
            {
                "columns": [m["name"] for m in meta],
                "types": [m["type"] for m in meta],
                "rows": rows,
                "rows_count": len(rows),
                "elapsed_s": round(time.perf_counter() - started, 6),
            }
        )

    @app.get("/healthz")
    def healthz() -> Response:
        if not ready.is_set():
            return _error(503, "not_ready", "the sink is still creating its tables")
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


class QueryServer:
    """Runs the app on uvicorn in a daemon thread; ``start`` returns once it listens."""

    def __init__(self, app: FastAPI, *, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = QuietServer(config)
        self._thread = threading.Thread(target=self._server.run, name="sink-http", daemon=True)
        self.host = host

    def start(self, timeout_s: float = 15.0) -> int:
        """Start listening.

        Returns:
            The bound port (useful with port 0).

        Raises:
            SinkError: it did not listen within ``timeout_s`` (the port is taken?).
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SinkError(
                    f"the sink's HTTP server did not start on {self.host}:"
                    f"{self._server.config.port} (port in use?)"
                )
            time.sleep(0.02)
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        log.info("sink HTTP on http://%s:%d (/query, /metrics, /healthz)", self.host, port)
        return port

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
