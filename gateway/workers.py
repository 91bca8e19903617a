"""``splitstream gateway``'s process model: one uvicorn server, or N on one port.

With ``gateway_workers`` > 1, N processes each bind the same port with SO_REUSEPORT,
so the kernel spreads connections over them, and each owns its own reply partition
(``gateway_reply_partition`` + its index): no configuration per worker. The parent
only supervises: it restarts a worker that dies and stops all on SIGTERM/SIGINT.
Each worker has its own admission bound, metrics and clients. A scrape of the shared
port's /metrics reaches one worker chosen by the kernel; with ``gateway_metrics_port``
set, worker i also serves its own metrics on that port + i, one Prometheus target each.
"""

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from fastapi import FastAPI

from gateway.main import create_app
from gateway.settings import GatewaySettings
from plumbing.http_server import QuietServer

log = logging.getLogger(__name__)

#: A worker that died is started again after this pause (not in a tight loop).
RESTART_PAUSE_S = 1.0
STOP_GRACE_S = 10.0


def uvicorn_config(app: FastAPI, *, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket that other processes may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve_worker(
    host: str, port: int, reply_partition: int, log_level: str, metrics_port: int = 0
) -> None:
    """One worker process: its own reply partition, its own socket on the shared port, and
    its own /metrics port when ``metrics_port`` is not 0."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = GatewaySettings.load(
        gateway_reply_partition=reply_partition, gateway_metrics_port=metrics_port
    )
    app = create_app(settings)
    server = QuietServer(uvicorn_config(app, host=host, port=port, log_level=log_level))
    server.run(sockets=[reuse_port_socket(host, port)])


def run(
    settings: GatewaySettings,
    *,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "info",
) -> None:
    """Run the gateway process: its logging, then ``run_gateway`` on ``host:port`` (default:
    the settings'). uvicorn, or the worker pool, handles SIGTERM and SIGINT."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run_gateway(
        settings,
        host=host or settings.gateway_host,
        port=settings.gateway_port if port is None else port,
        log_level=log_level,
    )


def run_gateway(settings: GatewaySettings, *, host: str, port: int, log_level: str) -> None:
    """Serve on ``host:port`` until SIGTERM/SIGINT, with ``settings.gateway_workers`` processes."""
    if settings.gateway_workers == 1:
        config = uvicorn_config(create_app(settings), host=host, port=port, log_level=log_level)
        QuietServer(config).run()
        return
    WorkerPool(settings, host=host, port=port, log_level=log_level).run()


class WorkerPool:
    """N gateway processes on one port; each index keeps its reply partition for life."""

    def __init__(self, settings: GatewaySettings, *, host: str, port: int, log_level: str) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._args = (host, port, log_level)
        self._base = settings.gateway_reply_partition
        self._metrics_base = settings.gateway_metrics_port
        self._workers: dict[int, BaseProcess] = {}
        self._stopping = False
        self._count = settings.gateway_workers

    def run(self) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self._count):
                self._start(index)
            while not self._stopping:
                self._restart_dead()
                time.sleep(RESTART_PAUSE_S)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, index: int) -> None:
        host, port, log_level = self._args
        partition = self._base + index
        metrics_port = self._metrics_base + index if self._metrics_base else 0
        process = self._context.Process(
            target=serve_worker,
            args=(host, port, partition, log_level, metrics_port),
            name=f"gateway-worker-{index}",
            daemon=False,
        )
        process.start()
        self._workers[index] = process
        log.info(
            "gateway worker %d started: pid %s, reply partition %d", index, process.pid, partition
        )

    def _restart_dead(self) -> None:
        for index, process in list(self._workers.items()):
            if not process.is_alive() and not self._stopping:
                log.warning(
                    "gateway worker %d (pid %s) exited with %s; starting it again",
                    index,
                    process.pid,
                    process.exitcode,
                )
                self._start(index)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _stop_all(self) -> None:
        for process in self._workers.values():
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self._workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
