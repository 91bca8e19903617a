"""Admission control: at most ``max_in_flight`` predictions at once; beyond, 503 at once.

Past saturation an open-loop load keeps arriving; work accepted beyond what the system
can finish before the deadline only makes every request late, and goodput collapses.
Refusing the excess at the door, before any parsing or Kafka work, keeps the accepted
requests fast. It is pure ASGI, outside FastAPI, so a refusal costs a few microseconds
and a pre-encoded body. Clients get ``Retry-After``; load balancers can retry elsewhere.
"""

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import PREDICTION_PATHS, error_body

RETRY_AFTER_S = 1


def refusal_body(max_in_flight: int) -> bytes:
    return orjson.dumps(
        error_body(
            "overloaded",
            f"the gateway already has {max_in_flight} predictions in flight; retry later",
            allowed={"max_in_flight": max_in_flight},
        )
    )


class AdmissionMiddleware:
    """Counts prediction requests in flight and refuses those past ``max_in_flight``."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._body = refusal_body(max_in_flight)
        self._headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._body)).encode()),
            (b"retry-after", str(RETRY_AFTER_S).encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = PREDICTION_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            _count_refusal(scope, api)
            await send({"type": "http.response.start", "status": 503, "headers": self._headers})
            await send({"type": "http.response.body", "body": self._body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


def _count_refusal(scope: Scope, api: str) -> None:
    gateway: Any = getattr(scope["app"].state, "gateway", None)
    if gateway is not None:
        gateway.metrics.refused(api)
