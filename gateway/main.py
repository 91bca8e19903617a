"""The gateway app: ``create_app()`` wires settings, middleware, routes and the error handler.

Run it with ``splitstream gateway`` or ``uvicorn --factory gateway.main:create_app``.
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from gateway import security_headers
from gateway.admission import AdmissionMiddleware
from gateway.body_limit import BodyLimitMiddleware
from gateway.errors import HANDLED_ERRORS, handle_error
from gateway.lifespan import lifespan
from gateway.routes import admin, dashboard, feedback, info, legacy, pages, predict
from gateway.schemas import SPLIT_KEY_HEADER
from gateway.settings import GatewaySettings
from gateway.settings_check import check_settings
from gateway.web import STATIC_DIR


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway app; ``settings`` defaults to ``GatewaySettings.load()`` (the environment).

    Set once, as ``app.state.settings``: the lifespan's clients and ``gateway.deps`` read
    them there.

    Raises:
        ValueError: the admin token is a placeholder or too short.
    """
    settings = (settings or GatewaySettings.load()).with_default_kafka_role("gateway")
    check_settings(settings)
    app = FastAPI(
        title="Splitstream gateway",
        summary="Prices Bengaluru houses through Kafka and A/B-tests a candidate model.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # /docs comes from local files: gateway/security_headers.py
        redoc_url=None,
    )
    app.state.settings = settings

    for routes in (predict, feedback, admin, info, dashboard, legacy, pages):
        app.include_router(routes.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    for error_class in HANDLED_ERRORS:
        app.add_exception_handler(error_class, handle_error)

    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Added last, so it runs first: a refusal costs no body read, no routing.
    app.add_middleware(
        AdmissionMiddleware,
        max_in_flight=settings.gateway_max_in_flight,
        max_in_flight_behind=settings.gateway_max_in_flight_behind,
        behind_lag_s=settings.gateway_behind_lag_ms / 1000,
        busy_cpu_share=settings.gateway_busy_cpu_share,
        max_loop_lag_s=settings.gateway_max_loop_lag_ms / 1000,
        min_served_per_s=settings.gateway_behind_min_served_per_s,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["Content-Type", "Authorization", SPLIT_KEY_HEADER],
    )
    security_headers.install(app, trusted_hosts=settings.trusted_hosts)
    return app
