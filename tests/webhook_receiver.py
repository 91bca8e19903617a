"""A tiny webhook receiver for tests: an HTTP server in a thread that keeps what it is sent.

``answers`` scripts the status of each post in turn (then 200); ``hold`` makes it wait
before answering, to show that a slow receiver blocks nobody.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    url: str
    answers: list[int] = field(default_factory=list)
    hold_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """The messages received once there are ``count`` (or all there are at the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        with self._lock:
            return list(self.received)

    def _answer(self, body: bytes) -> int:
        time.sleep(self.hold_s)
        with self._lock:
            self.attempts += 1
            status = self.answers.pop(0) if self.answers else 200
            if 200 <= status < 300:
                self.received.append(json.loads(body))
        return status


@contextmanager
def webhook_receiver(answers: list[int] | None = None, hold_s: float = 0.0) -> Iterator[Receiver]:
    """A receiver on a free local port; stopped at the end."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver._answer(body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(
        f"http://127.0.0.1:{server.server_port}/hooks/splitstream",
        answers=list(answers or []),
        hold_s=hold_s,
    )
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
