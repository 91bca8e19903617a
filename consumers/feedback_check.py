"""Feedback over Kafka must name a request a gateway served, as over HTTP.

The gateways mint request ids with an HMAC under the key they share with the sink
(plumbing/request_ids.py); feedback naming any other id is dead-lettered with the
reason, never stored, so it cannot reach the views the promoter's evidence reads.
``check_feedback`` is called once per decoded message (consumers/sink.py, ``_admit``).
"""

from typing import Any

from consumers.errors import UnservedRequestError
from plumbing.request_ids import RequestIds


def check_feedback(event_type: str, event: dict[str, Any], request_ids: RequestIds | None) -> None:
    """Refuse ``feedback`` whose ``request_id`` no gateway served; other events pass.

    Raises:
        UnservedRequestError: naming the field and why.
    """
    if event_type != "feedback" or request_ids is None:
        return
    if not request_ids.served(str(event.get("request_id", ""))):
        raise UnservedRequestError(
            "request_id: no gateway served this request (its id carries no gateway's HMAC)"
        )
