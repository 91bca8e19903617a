"""QuietServer: uvicorn that ticks once a second at rest, and still stops when asked."""

import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
import uvicorn

from plumbing import http_server
from plumbing.http_server import QuietServer


async def _app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


class CountingServer(QuietServer):
    ticks = 0

    async def on_tick(self, counter: int) -> bool:
        self.ticks += 1
        return await super().on_tick(counter)


def _started(server: QuietServer) -> threading.Thread:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    return thread


def _config() -> uvicorn.Config:
    return uvicorn.Config(_app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")


@pytest.fixture
def server() -> Iterator[tuple[CountingServer, threading.Thread]]:
    server = CountingServer(_config())
    thread = _started(server)
    yield server, thread
    server.should_exit = True
    thread.join(timeout=10)


def test_an_idle_server_ticks_once_a_second_and_still_serves(
    server: tuple[CountingServer, threading.Thread],
) -> None:
    quiet, _ = server
    port = quiet.servers[0].sockets[0].getsockname()[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as answer:
        assert answer.read() == b"ok"
        assert answer.headers["date"]  # the Date header is still there
    ticks_before = quiet.ticks
    time.sleep(1.5)
    assert quiet.ticks - ticks_before <= 3  # uvicorn's own loop: 15 in 1.5 s


def test_asked_to_exit_it_stops_without_waiting_for_its_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_server, "TICK_S", 3600.0)  # a stop that waited would never come
    quiet = QuietServer(_config())
    thread = _started(quiet)
    quiet.should_exit = True  # from another thread, as QueryServer.stop does
    thread.join(timeout=10)
    assert not thread.is_alive()
