"""Request ids that prove a gateway minted them: a UUID whose last bits are an HMAC of the rest.

Feedback is evidence for the promoter, so it must name a request that was served. Any
gateway, and the sink for feedback that arrives over Kafka, tells a minted id from any
other with no lookup: ``SPLITSTREAM_REQUEST_ID_KEY`` is shared by them (local.env),
and an id is 16 bytes::

    nonce (9 bytes: 66 random bits, the UUID version and variant)  |  tag (7 bytes)
    tag = HMAC-SHA256(key, nonce)[:7]

It is still a valid version-4 UUID, so every schema and table keeps its type. Forging one
means guessing 56 bits; a gateway answers each wrong guess with a 404. Minting costs one
``os.urandom`` and one HMAC of 9 bytes (about a microsecond), checking the same HMAC.
Ids minted under a key stop verifying when it is rotated (README, Security).
"""

import hmac
import os
import uuid
from functools import lru_cache

from plumbing.settings import RequestIdSettings

NONCE_BYTES = 9
TAG_BYTES = 7


class RequestIds:
    """Mints and checks request ids under one key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the request id key must have at least 16 bytes")
        self._key = key

    def _tag(self, nonce: bytes) -> bytes:
        return hmac.digest(self._key, nonce, "sha256")[:TAG_BYTES]

    def mint(self) -> str:
        """A new request id (a version-4 UUID string) that ``served`` accepts."""
        nonce = bytearray(os.urandom(NONCE_BYTES))
        nonce[6] = (nonce[6] & 0x0F) | 0x40  # version 4
        nonce[8] = (nonce[8] & 0x3F) | 0x80  # RFC 4122 variant
        return str(uuid.UUID(bytes=bytes(nonce) + self._tag(bytes(nonce))))

    def served(self, request_id: str) -> bool:
        """Whether ``request_id`` was minted under this key (any gateway, any restart)."""
        try:
            raw = uuid.UUID(request_id).bytes
        except (ValueError, TypeError, AttributeError):
            return False
        nonce, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        return hmac.compare_digest(tag, self._tag(nonce))


@lru_cache(maxsize=4)
def request_ids(key: str) -> RequestIds:
    """The ``RequestIds`` of a key as settings hold it (a string), built once."""
    return RequestIds(key.encode())


def for_settings(settings: RequestIdSettings) -> RequestIds:
    """The request ids of ``settings.request_id_key``.

    Raises:
        ValueError: no key is configured (run `splitstream stack up`, or set
            SPLITSTREAM_REQUEST_ID_KEY the same on every gateway and sink).
    """
    if settings.request_id_key is None:
        raise ValueError(
            "SPLITSTREAM_REQUEST_ID_KEY is not set: gateways and the sink share it to tell "
            "served request ids from others (`splitstream stack up` generates one)"
        )
    return request_ids(settings.request_id_key.get_secret_value())


def mint_request_id(settings: RequestIdSettings) -> str:
    """A new served-request id under ``settings``' key (the gateway's one call per request)."""
    return for_settings(settings).mint()
