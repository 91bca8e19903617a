"""QuietServer: uvicorn that ticks once a second at rest, and still stops at once."""

import threading
import time
import urllib.request

import uvicorn

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


def test_an_idle_server_ticks_once_a_second_serves_and_stops_at_once() -> None:
    config = uvicorn.Config(_app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = CountingServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as answer:
        assert answer.read() == b"ok"
        assert answer.headers["date"]  # the Date header is still there
    ticks_before = server.ticks
    time.sleep(1.5)
    assert server.ticks - ticks_before <= 3  # uvicorn's own loop: 15 in 1.5 s
    asked = time.monotonic()
    server.should_exit = True  # from another thread, as QueryServer.stop does
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - asked < 0.5
