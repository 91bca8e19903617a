"""Turn consumed bytes into typed requests, or say precisely why not.

Validation is the schema's: a message is rejected exactly when
``schemas.registry.validate_event`` rejects it, and the reason is its field
path. The strict pydantic models (which mirror the schemas; the schema tests
prove it) are tried first because they cost far less a message than the
JSON Schema validator; the validator only runs when the
model refuses, to confirm and to word the reason.
"""

import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from plumbing.errors import SchemaMismatchError
from plumbing.message_json import decode_json
from predictors.errors import MissingReplyAddressError
from schemas.errors import EventValidationError
from schemas.model_events import ModelReload
from schemas.registry import validate_event
from schemas.serving_events import PredictRequest, ScoreRequest

M = TypeVar("M", bound=BaseModel)


def parse_contract(obj: Any, model: type[M], event_type: str) -> M:
    """``obj`` as ``model``, accepted exactly when its JSON Schema accepts it.

    Raises:
        SchemaMismatchError: the schema (or a cross-field rule of the model) refuses it.
    """
    try:
        return model.model_validate(obj)
    except ValidationError as strict_error:
        try:
            validate_event(obj, event_type)
        except EventValidationError as invalid:
            raise SchemaMismatchError(str(invalid)) from invalid
        # The schema accepts what strict mode refused (e.g. 2.0 for an integer).
        try:
            return model.model_validate(obj, strict=False)
        except ValidationError:
            raise SchemaMismatchError(f"{event_type}: {_first(strict_error)}") from strict_error


def _first(error: ValidationError) -> str:
    first = error.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "$"
    return f"{path}: {first['msg']}"


class ReplyAddresses:
    """Checks a request's ``reply_to`` before anything is produced there.

    A reply may go to the replies topic or to one named after it
    (``<replies>.<gateway>``), on a partition that exists. Anything else would
    make the producer block on metadata or raise, so it is refused up front.
    """

    def __init__(
        self,
        replies_topic: str,
        partitions_of: Callable[[str], set[int]],
        *,
        refresh_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._replies_topic = replies_topic
        self._partitions_of = partitions_of
        self._refresh_s = refresh_s
        self._clock = clock
        self._known: dict[str, tuple[frozenset[int], float]] = {}

    def check(self, reply_to: Any) -> None:
        """Raise MissingReplyAddressError unless ``reply_to`` is a usable address."""
        if not isinstance(reply_to, dict):
            raise MissingReplyAddressError("request has no reply_to {topic, partition}")
        topic, partition = reply_to.get("topic"), reply_to.get("partition")
        if isinstance(partition, float) and partition.is_integer():  # 1.0: an integer to JSON
            partition = int(partition)
        if not isinstance(topic, str) or not topic:
            raise MissingReplyAddressError("reply_to.topic is missing or not a string")
        if not isinstance(partition, int) or isinstance(partition, bool) or partition < 0:
            raise MissingReplyAddressError("reply_to.partition is missing or not an integer >= 0")
        if topic != self._replies_topic and not topic.startswith(self._replies_topic + "."):
            raise MissingReplyAddressError(
                f"reply_to.topic {topic!r} is not the replies topic {self._replies_topic!r} "
                "or one named after it"
            )
        if partition not in self._partitions(topic, partition):
            raise MissingReplyAddressError(f"reply_to {topic}[{partition}] does not exist")

    def _partitions(self, topic: str, wanted: int) -> frozenset[int]:
        known = self._known.get(topic)
        now = self._clock()
        if known is None or (wanted not in known[0] and now - known[1] >= self._refresh_s):
            known = (frozenset(self._partitions_of(topic)), now)
            self._known[topic] = known
        return known[0]


def decode_predict_request(
    value: bytes | None, *, slot: str, reply_addresses: ReplyAddresses
) -> PredictRequest:
    """A ``predict.request`` for this worker's ``slot``, with a usable reply address.

    Raises:
        MessageRejectedError: one of its causes (decode, missing reply address, schema).
    """
    obj = decode_json(value)
    if not isinstance(obj, dict):
        raise SchemaMismatchError("predict.request: $: event must be a JSON object")
    reply_addresses.check(obj.get("reply_to"))
    request = parse_contract(obj, PredictRequest, "predict.request")
    if request.slot != slot:
        raise SchemaMismatchError(
            f"predict.request: slot: {request.slot!r} arrived at the {slot!r} predictors"
        )
    return request


def decode_score_request(value: bytes | None) -> ScoreRequest:
    """A ``score.request`` as any Kafka producer may write it.

    Raises:
        MessageRejectedError: the value is not JSON or not a score.request.
    """
    return parse_contract(decode_json(value), ScoreRequest, "score.request")


def decode_reload(value: bytes | None) -> ModelReload | None:
    """The ``model.reload`` in a model.events message, or None for any other event.

    Raises:
        MessageRejectedError: the message claims to be a model.reload but is malformed,
            or is not JSON at all.
    """
    obj = decode_json(value)
    if not isinstance(obj, dict) or obj.get("event_type") != "model.reload":
        return None
    return parse_contract(obj, ModelReload, "model.reload")


def reload_reason(value: bytes | None) -> str | None:
    """Why a model.events message calls for re-reading the slots, or None when it does not.

    A ``model.reload`` broadcast does, and so does a ``model.candidate_published``: the
    gateway routes to a new candidate as soon as it sees that event, so the candidate
    worker must not wait for its periodic re-read to load it.

    Raises:
        MessageRejectedError: as ``decode_reload``.
    """
    reload = decode_reload(value)
    if reload is not None:
        return f"model.reload generation {reload.generation} ({reload.reason})"
    obj = decode_json(value)
    if isinstance(obj, dict) and obj.get("event_type") == "model.candidate_published":
        return f"model.candidate_published {obj.get('model_version', '?')}"
    return None
