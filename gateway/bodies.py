"""The prediction routes' bodies, parsed by hand instead of by FastAPI's body parameter.

FastAPI's body parameter decodes JSON with ``json.loads``, validates the dict, then
validates and re-encodes the response model: measured in-process, that machinery was
most of the gateway's cost per request. Here pydantic-core parses and validates the
raw bytes in one call, and the route answers pre-encoded JSON. The contract is the
same models (``gateway.schemas``); ``openapi_extra`` documents them as before.
Problems are raised as FastAPI's own ``RequestValidationError``, with FastAPI's
``("body", field)`` locations, so the one error handler words them as it always did.
"""

from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from gateway.legacy_schemas import LegacyPredictForm
from gateway.schemas import SPLIT_KEY_HEADER, PredictIn

FORM_URLENCODED = "application/x-www-form-urlencoded"
SPLIT_KEY_MAX_LENGTH = 200


def _invalid(error: ValidationError, where: str) -> RequestValidationError:
    errors = error.errors(include_url=False, include_context=False)
    return RequestValidationError(
        [{**e, "loc": (where, *e["loc"])} for e in errors if e["type"] != "json_invalid"]
        or [{"loc": (), "msg": "the body is not valid JSON", "type": "json_invalid"}]
    )


async def predict_body(request: Request) -> PredictIn:
    """The JSON body of ``POST /v1/predict``, validated in one pydantic-core call.

    Raises:
        RequestValidationError: not JSON, or a field is missing, mistyped or out of range.
    """
    try:
        return PredictIn.model_validate_json(await request.body())
    except ValidationError as error:
        raise _invalid(error, "body") from None


async def legacy_predict_form(request: Request) -> LegacyPredictForm:
    """The form of ``POST /api/predict_home_price``: URL-encoded (parsed here) or multipart.

    Raises:
        RequestValidationError: a field is missing or not a number in range.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() == FORM_URLENCODED:
        fields: dict[str, Any] = dict(
            parse_qsl((await request.body()).decode("latin-1"), keep_blank_values=True)
        )
    else:
        async with request.form() as form:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        return LegacyPredictForm.model_validate(fields)
    except ValidationError as error:
        raise _invalid(error, "body") from None


def split_key_header(request: Request) -> str | None:
    """The ``X-Split-Key`` header, when there is one.

    Raises:
        RequestValidationError: empty or longer than 200 characters.
    """
    key = request.headers.get(SPLIT_KEY_HEADER)
    if key is not None and not 1 <= len(key) <= SPLIT_KEY_MAX_LENGTH:
        raise RequestValidationError(
            [
                {
                    "loc": ("header", SPLIT_KEY_HEADER),
                    "msg": f"must be 1 to {SPLIT_KEY_MAX_LENGTH} characters long",
                    "type": "string_length",
                }
            ]
        )
    return key


def json_response(body: dict[str, Any]) -> Response:
    """A 200 with ``body`` encoded by orjson (no response-model round trip)."""
    return Response(orjson.dumps(body), media_type="application/json")


def documented_body(model: type[BaseModel], media_type: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads ``model`` from its body by hand."""
    return {
        "requestBody": {
            "required": True,
            "content": {media_type: {"schema": model.model_json_schema()}},
        },
        "parameters": [
            {
                "name": SPLIT_KEY_HEADER,
                "in": "header",
                "required": False,
                "description": "Split key, when the body has none.",
                "schema": {"type": "string", "minLength": 1, "maxLength": SPLIT_KEY_MAX_LENGTH},
            }
        ],
    }
