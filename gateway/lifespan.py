"""The gateway's clients, opened and closed with the app (FastAPI lifespan).

Nothing here blocks start-up: Kafka and S3 are reached in background tasks, so a
gateway started while either is down comes up, answers 503 and /readyz says why,
and recovers by itself when they return.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from prometheus_client import start_http_server

from gateway.dashboard import DashboardSource
from gateway.kafka_link import KafkaLink
from gateway.metrics import GatewayMetrics
from gateway.predictions import PredictionService
from gateway.replies import InboundListener, PendingReplies
from gateway.routing import RoutingCache
from gateway.settings import GatewaySettings
from plumbing.heap import freeze_startup_objects
from plumbing.s3 import s3_client

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """Everything one gateway instance holds open, kept on ``app.state.gateway``."""

    settings: GatewaySettings
    metrics: GatewayMetrics
    pending: PendingReplies
    link: KafkaLink
    listener: InboundListener
    routing: RoutingCache
    predictions: PredictionService
    dashboard: DashboardSource

    @classmethod
    def build(cls, settings: GatewaySettings) -> "Gateway":
        client_id = f"splitstream-gateway-p{settings.gateway_reply_partition}"
        metrics = GatewayMetrics()
        pending = PendingReplies()
        link = KafkaLink(settings, client_id=client_id)
        routing = RoutingCache(settings, s3_client(settings))
        listener = InboundListener(
            settings, pending, metrics, on_model_event=routing.poke, client_id=client_id
        )
        predictions = PredictionService(
            settings, routing=routing, link=link, pending=pending, metrics=metrics
        )
        dashboard = DashboardSource(settings, kafka_up=lambda: link.available)
        return cls(settings, metrics, pending, link, listener, routing, predictions, dashboard)

    async def start(self) -> None:
        await self.routing.start()
        await self.link.start()
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.stop()
        await self.link.stop()
        await self.routing.stop()

    def readiness(self) -> tuple[list[str], dict[str, Any]]:
        """Why this instance is not ready (empty when it is), and what was checked."""
        routing = self.routing.current
        reasons = [
            reason
            for reason in (self.link.reason, self.listener.reason, routing.reason)
            if reason is not None
        ]
        checks = {
            "kafka": self.link.available,
            "reply_partition": self.listener.reply_partition,
            "reply_listener": self.listener.positioned,
            "prod_model": routing.prod_version,
            "candidate_model": routing.candidate_version,
            "slots_error": routing.error,
        }
        self.metrics.kafka_up.set(1 if self.link.available else 0)
        self.metrics.candidate_share.set(routing.candidate_share)
        return reasons, checks


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: GatewaySettings = app.state.settings
    gateway = Gateway.build(settings)
    await gateway.start()
    app.state.gateway = gateway
    metrics_server = _serve_worker_metrics(settings, gateway.metrics)
    freeze_startup_objects()
    log.info(
        "gateway up: kafka %s, reply partition %s, bucket %s",
        settings.kafka_bootstrap,
        settings.gateway_reply_partition,
        settings.s3_bucket,
    )
    try:
        yield
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
            metrics_server.server_close()
        await gateway.stop()
        del app.state.gateway


def _serve_worker_metrics(settings: GatewaySettings, metrics: GatewayMetrics) -> Any:
    """This worker's own /metrics on ``gateway_metrics_port`` (gateway/workers.py), if set."""
    if not settings.gateway_metrics_port:
        return None
    server, _thread = start_http_server(
        settings.gateway_metrics_port, addr=settings.gateway_host, registry=metrics.registry
    )
    log.info("this worker's metrics on port %d", settings.gateway_metrics_port)
    return server
