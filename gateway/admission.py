"""Admission control: at most ``max_in_flight`` predictions at once, fewer
(``max_in_flight_behind``) while the gateway is short of CPU, and none while its event loop
lags more than ``max_loop_lag_s``; beyond, 503 at once.

Past saturation an open-loop load keeps arriving; work accepted beyond what the system
can finish before the deadline only makes every request late, and goodput collapses.
Refusing the excess at the door, before any parsing or Kafka work, keeps the accepted
requests fast.

Many predictions in flight mean one of two things. Kafka stalls (a leader moves): the
gateway is idle, waiting for replies, and a generous bound rides it out. Or the CPU is
short (an overload): the gateway is busy or its loop runs behind, and each request
accepted past what the predictors finish makes the rest late. The gateway's own CPU share
and its loop's lag tell them apart, so the lower bound applies only while either is high,
and only while replies still flow: on a loaded machine a busy gateway in a stall looks
short of CPU too, but its replies stop, while an overload serves at its maximum rate.

It is pure ASGI, outside FastAPI, so a refusal costs a few microseconds and a pre-encoded
body. Clients get ``Retry-After``; load balancers can retry elsewhere.
"""

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import PREDICTION_PATHS, error_body
from gateway.loop_lag import LoopLag

RETRY_AFTER_S = 1


def refusal_body(max_in_flight: int) -> bytes:
    return orjson.dumps(
        error_body(
            "overloaded",
            f"the gateway already has {max_in_flight} predictions in flight; retry later",
            allowed={"max_in_flight": max_in_flight},
        )
    )


def behind_body(max_in_flight_behind: int) -> bytes:
    return orjson.dumps(
        error_body(
            "overloaded",
            f"the gateway is short of CPU with {max_in_flight_behind} predictions in flight; "
            "retry later",
            allowed={"max_in_flight": max_in_flight_behind},
        )
    )


def lagging_body(max_loop_lag_s: float) -> bytes:
    max_ms = round(max_loop_lag_s * 1000)
    return orjson.dumps(
        error_body(
            "overloaded",
            f"the gateway runs more than {max_ms} ms behind its requests; retry later",
            allowed={"max_loop_lag_ms": max_ms},
        )
    )


@dataclass(frozen=True)
class Bounds:
    """What admission allows. Lags are in seconds; a lag of 0 turns its rule off."""

    max_in_flight: int
    max_in_flight_behind: int | None = None  # None: no lower bound while short of CPU
    behind_lag_s: float = 0.0
    busy_cpu_share: float = 0.0
    max_loop_lag_s: float = 0.0
    #: The lower bound holds only while at least this many predictions a second are served.
    min_served_per_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("max_in_flight", "max_in_flight_behind"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")

    @property
    def watches_lag(self) -> bool:
        return self.max_loop_lag_s > 0 or self.behind_rule

    @property
    def behind_rule(self) -> bool:
        signal = self.behind_lag_s > 0 or self.busy_cpu_share > 0
        return signal and self.max_in_flight_behind is not None

    def short_of_cpu(self, lag_s: float, cpu_share: float, served_per_s: float) -> bool:
        lagging = self.behind_lag_s > 0 and lag_s > self.behind_lag_s
        busy = self.busy_cpu_share > 0 and cpu_share > self.busy_cpu_share
        serving = served_per_s >= self.min_served_per_s
        return self.behind_rule and (lagging or busy) and serving


Refusal = Literal["full", "behind", "lagging"]


def refusal_reason(
    bounds: Bounds,
    in_flight: int,
    lag_s: float,
    cpu_share: float = 0.0,
    served_per_s: float = 0.0,
) -> Refusal | None:
    """Why a prediction arriving now is refused, or None to admit it."""
    if in_flight >= bounds.max_in_flight:
        return "full"
    behind = bounds.short_of_cpu(lag_s, cpu_share, served_per_s)
    if behind and in_flight >= (bounds.max_in_flight_behind or 0):
        return "behind"
    if bounds.max_loop_lag_s > 0 and lag_s > bounds.max_loop_lag_s:
        return "lagging"
    return None


class AdmissionMiddleware:
    """Counts prediction requests in flight and refuses those ``refusal_reason`` names."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        max_in_flight_behind: int | None = None,
        behind_lag_s: float = 0.0,
        busy_cpu_share: float = 0.0,
        max_loop_lag_s: float = 0.0,
        min_served_per_s: float = 0.0,
    ) -> None:
        self.app = app
        self.bounds = Bounds(
            max_in_flight=max_in_flight,
            max_in_flight_behind=max_in_flight_behind,
            behind_lag_s=behind_lag_s,
            busy_cpu_share=busy_cpu_share,
            max_loop_lag_s=max_loop_lag_s,
            min_served_per_s=min_served_per_s,
        )
        self.in_flight = 0
        self.lag = LoopLag()
        self._refusals: dict[Refusal, tuple[list[tuple[bytes, bytes]], bytes]] = {
            "full": _refusal(refusal_body(max_in_flight)),
            "behind": _refusal(behind_body(max_in_flight_behind or 0)),
            "lagging": _refusal(lagging_body(max_loop_lag_s)),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = PREDICTION_PATHS.get(scope["path"]) if scope["type"] == "http" else None
        if api is None:
            await self.app(scope, receive, send)
            return
        if self.bounds.watches_lag:
            self._watch_lag(scope)
        lag = self.lag
        reason = refusal_reason(
            self.bounds, self.in_flight, lag.lag_s, lag.cpu_share, lag.served_per_s
        )
        if reason is not None:
            _count_refusal(scope, api)
            headers, body = self._refusals[reason]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(
                scope, receive, self._counting(send) if self.bounds.behind_rule else send
            )
        finally:
            self.in_flight -= 1

    def _counting(self, send: Send) -> Send:
        """``send`` that counts a reply served (200) into the served rate."""

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                self.lag.saw_served()
            await send(message)

        return send_counted

    def _watch_lag(self, scope: Scope) -> None:
        if self.lag.observe is None:  # the gateway's metrics exist once its lifespan ran
            gateway: Any = getattr(scope["app"].state, "gateway", None)
            if gateway is not None:
                self.lag.observe = gateway.metrics.loop_lag.observe
        self.lag.saw_request(asyncio.get_running_loop())


def _refusal(body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
    ]
    return headers, body


def _count_refusal(scope: Scope, api: str) -> None:
    gateway: Any = getattr(scope["app"].state, "gateway", None)
    if gateway is not None:
        gateway.metrics.refused(api)
