"""A request body limit: 413 JSON for a body larger than ``max_body_bytes``.

A declared Content-Length over the limit is refused before anything is read. A body
without one (chunked) is read up to the limit and refused as soon as it passes it;
a body within the limit is handed to the app unchanged. The limit is small (16 KiB
by default), so holding the body while counting it costs nothing.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BadRequestError, BodyTooLargeError, GatewayError, error_response


class BodyLimitMiddleware:
    """Pure ASGI middleware; wraps the whole app, so every route is covered."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_declared(scope)
            body, disconnected = await self._read(receive)
        except GatewayError as error:
            await error_response(error)(scope, receive, send)
            return
        if disconnected:
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: str) -> BodyTooLargeError:
        return BodyTooLargeError(
            f"request body of {size} bytes is larger than the limit of {self.max_body_bytes}",
            allowed={"max_body_bytes": self.max_body_bytes},
        )

    def _check_declared(self, scope: Scope) -> None:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise BadRequestError(
                        "Content-Length is not a number", field="Content-Length"
                    ) from None
                if declared > self.max_body_bytes:
                    raise self._too_large(str(declared))

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The whole body, and whether the client went away while sending it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large(f"more than {self.max_body_bytes}")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False
