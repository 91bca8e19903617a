"""The gateway's errors, and the one exception handler that turns them into JSON.

Every error body has one shape::

    {"error": {"code": ..., "message": ..., "field": ..., "allowed": ...}}

Routes raise a ``GatewayError`` subclass; FastAPI's request validation errors,
Starlette's HTTP errors (404, 405) and the shared errors a route lets out (no promoter
answered a command) are mapped to the same shape by ``handle_error``.
"""

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.field_limits import FIELD_LIMITS
from gateway.legacy_metrics import ENDPOINT_OF_API
from gateway.metrics import NO_VARIANT
from plumbing.errors import PromoterUnavailableError
from schemas.errors import SplitstreamError

log = logging.getLogger(__name__)

#: The old clients' API; its input errors answer 400 as the old Flask server did.
LEGACY_PREFIX = "/api/"
#: The prediction routes, by the API label the metrics use.
PREDICTION_PATHS = {path: api for api, path in ENDPOINT_OF_API.items()}
#: Errors of the shared code that routes let out, answered like the gateway's own:
#: the HTTP status and the error code of each.
SHARED_ERRORS: dict[type[SplitstreamError], tuple[int, str]] = {
    PromoterUnavailableError: (503, "promoter_unavailable"),
}


class GatewayError(SplitstreamError):
    """Root of the gateway's errors; each maps to one HTTP status and error code."""

    status: int = 500
    code: str = "internal"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        allowed: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.allowed = allowed
        self.headers = headers


class InvalidInputError(GatewayError):
    """A request field is missing, has the wrong type, or is out of its range."""

    status = 422
    code = "invalid_input"


class BadRequestError(InvalidInputError):
    """Invalid input on the old clients' API, which answers 400."""

    status = 400
    code = "bad_request"


class OutOfDomainError(GatewayError):
    """The input is valid but outside what the model saw in training."""

    status = 422
    code = "out_of_domain"


class UnauthorizedError(GatewayError):
    """An admin action without the right bearer token."""

    status = 401
    code = "unauthorized"


class NotFoundError(GatewayError):
    """No such route."""

    status = 404
    code = "not_found"


class CommandConflictError(GatewayError):
    """The promoter did not act: the slots moved on, or the action does not apply now."""

    status = 409
    code = "conflict"


class BodyTooLargeError(GatewayError):
    """The request body is larger than max_body_bytes."""

    status = 413
    code = "body_too_large"


class ServiceUnavailableError(GatewayError):
    """Something the gateway needs is not available right now; retrying may work."""

    status = 503
    code = "unavailable"


class KafkaUnavailableError(ServiceUnavailableError):
    """Kafka is unreachable, or a send to it failed."""

    code = "kafka_unavailable"


class ModelUnavailableError(ServiceUnavailableError):
    """No production model is known (no slots, or its manifest cannot be read)."""

    code = "model_unavailable"


class AdminDisabledError(ServiceUnavailableError):
    """Admin endpoints answer 503 when no admin token is configured."""

    code = "admin_disabled"


class PredictorFailedError(GatewayError):
    """A predictor answered with an error the client cannot fix."""

    status = 502
    code = "predictor_error"


class ReplyTimeoutError(GatewayError):
    """No reply arrived before the deadline."""

    status = 504
    code = "reply_timeout"


#: Every exception class ``handle_error`` is installed for (through ``Exception``, any other
#: error is a 500).
HANDLED_ERRORS: tuple[type[Exception], ...] = (
    GatewayError,
    *SHARED_ERRORS,
    RequestValidationError,
    StarletteHTTPException,
    Exception,
)


def error_body(
    code: str, message: str, *, field: str | None = None, allowed: Any = None
) -> dict[str, Any]:
    """The JSON body of every error answer."""
    return {"error": {"code": code, "message": message, "field": field, "allowed": allowed}}


def error_response(error: GatewayError) -> JSONResponse:
    body = error_body(error.code, error.message, field=error.field, allowed=error.allowed)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _field_name(loc: tuple[Any, ...]) -> str | None:
    """``("body", "features", "bhk")`` -> ``"features.bhk"``; headers keep their name."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form")]
    if loc and loc[0] == "header" and len(loc) > 1:
        return str(loc[1])
    return ".".join(parts) or None


def _allowed(field: str | None) -> Any:
    """What the field accepts (type and limits, as JSON Schema keywords), when known."""
    return FIELD_LIMITS.get(field or "") or None


def validation_error(exc: RequestValidationError, *, legacy: bool) -> GatewayError:
    """The first validation problem as a domain error naming the field."""
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "invalid"}
    loc = tuple(first.get("loc", ()))
    field = _field_name(loc)
    kind = first.get("type", "")
    if kind == "missing":
        message = f"{field} is required" if field else "a request body is required"
    elif kind == "json_invalid":
        message = "the body is not valid JSON"
        field = None
    else:
        message = (
            f"{field}: {first.get('msg', 'invalid value')}" if field else str(first.get("msg"))
        )
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    error_class = BadRequestError if legacy else InvalidInputError
    return error_class(str(message), field=field, allowed=_allowed(field))


def to_gateway_error(request: Request, exc: Exception) -> GatewayError:
    """Any exception the app lets out, as a domain error."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RequestValidationError):
        return validation_error(exc, legacy=request.url.path.startswith(LEGACY_PREFIX))
    for shared, (status, code) in SHARED_ERRORS.items():
        if isinstance(exc, shared):
            return _answered_as(GatewayError(str(exc)), status=status, code=code)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return NotFoundError(f"no route {request.method} {request.url.path}")
        error = GatewayError(str(exc.detail), headers=dict(exc.headers or {}) or None)
        code = "method_not_allowed" if exc.status_code == 405 else "http_error"
        return _answered_as(error, status=exc.status_code, code=code)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return GatewayError("internal error; see the gateway log")


def _answered_as(error: GatewayError, *, status: int, code: str) -> GatewayError:
    """``error`` with the status and code of the error it stands for."""
    error.status = status
    error.code = code
    return error


def _count_invalid_prediction(request: Request, exc: Exception, error: GatewayError) -> None:
    """A prediction refused for its input is an answered prediction too (the service
    counts the errors it raises itself)."""
    api = PREDICTION_PATHS.get(request.scope["path"])
    gateway = getattr(request.app.state, "gateway", None)
    if api is not None and gateway is not None and isinstance(exc, RequestValidationError):
        gateway.metrics.failed(
            api, NO_VARIANT, status=error.status, error_type=error.code, seconds=None
        )


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: every error answer goes through here."""
    error = to_gateway_error(request, exc)
    _count_invalid_prediction(request, exc, error)
    return error_response(error)
