"""Pages and headers: a content security policy, no sniffing, trusted hosts, local /docs.

- Every answer carries ``Content-Security-Policy`` (scripts, styles and connections
  from this origin only, no framing: ``frame-ancestors 'none'``),
  ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and
  ``Referrer-Policy: no-referrer``. The pages (gateway/web/static) load their scripts
  and styles from files and draw charts as SVG with presentation attributes, so the
  policy needs no ``'unsafe-inline'``.
- A request whose ``Host`` is not in ``SPLITSTREAM_TRUSTED_HOSTS`` (Starlette's
  rules: exact names, or ``*.example.com``) gets 400 with a JSON body naming ``host``.
- ``/docs`` is Swagger UI from the pinned ``fastapi-offline`` package's files (swagger-ui
  5, Apache-2.0), served under ``/docs/assets``; its start-up script is a file too
  (``static/docs.js``), so no CDN is reached and the policy holds there as well.
"""

from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BadRequestError, error_response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
#: Swagger UI's files, as the fastapi-offline wheel ships them.
SWAGGER_ASSETS = Path(str(files("fastapi_offline") / "static"))
DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Splitstream gateway - API</title>
  <link rel="icon" href="/docs/assets/favicon.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/openapi.json"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


def host_allowed(host_header: str | None, allowed: list[str]) -> bool:
    """Whether a ``Host`` header names one of ``allowed`` (``*.example.com`` matches subdomains).

    The port is ignored; ``*`` alone allows any host.
    """
    if "*" in allowed:
        return True
    if not host_header:
        return False
    try:
        parts = urlsplit(f"//{host_header}")
        host, _port = (parts.hostname or "").lower(), parts.port
    except ValueError:  # a malformed port or bracket
        return False
    for pattern in (p.lower() for p in allowed):
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


class SecurityHeadersMiddleware:
    """Pure ASGI: refuses untrusted hosts, adds the security headers to every answer."""

    def __init__(self, app: ASGIApp, *, trusted_hosts: list[str]) -> None:
        self.app = app
        self.trusted_hosts = list(trusted_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if not host_allowed(host, self.trusted_hosts):
            refused = BadRequestError(
                f"host {host!r} is not served here", field="host", allowed=self.trusted_hosts
            )
            await error_response(refused)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, *, trusted_hosts: list[str]) -> None:
    """Serve ``/docs`` from local files and wrap ``app`` in the security middleware.

    Build the app with ``docs_url=None`` and ``redoc_url=None``: FastAPI's own pages load
    Swagger UI from a CDN and start it with an inline script.
    """
    app.mount("/docs/assets", StaticFiles(directory=SWAGGER_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)

    app.add_middleware(SecurityHeadersMiddleware, trusted_hosts=trusted_hosts)
