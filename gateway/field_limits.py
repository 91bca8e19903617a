"""What each request field accepts (type and limits), named in a validation error's body."""

from typing import Any

from pydantic import BaseModel

from gateway.legacy_schemas import LegacyFeedbackIn, LegacyPredictForm
from gateway.schemas import FeedbackIn, PredictIn, SplitIn

_LIMIT_KEYWORDS = (
    "type",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
)


def _field_limits(*models: type[BaseModel]) -> dict[str, dict[str, Any]]:
    """Each body field's type and limits (JSON Schema keywords), for error bodies."""
    limits: dict[str, dict[str, Any]] = {}
    for model in models:
        for name, prop in model.model_json_schema()["properties"].items():
            branches = prop.get("anyOf", [prop])
            chosen = next((b for b in branches if b.get("type") != "null"), prop)
            limits.setdefault(name, {k: chosen[k] for k in _LIMIT_KEYWORDS if k in chosen})
    return limits


#: What each request field accepts: the ``allowed`` of a validation error's body.
FIELD_LIMITS = _field_limits(PredictIn, FeedbackIn, SplitIn, LegacyPredictForm, LegacyFeedbackIn)
FIELD_LIMITS["X-Split-Key"] = FIELD_LIMITS["key"]
