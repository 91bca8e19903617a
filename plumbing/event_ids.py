"""Event ids made cheaply: a batch of replies needs hundreds of them.

``str(uuid.uuid4())`` asks the kernel for 16 bytes and builds a ``UUID`` object per id.
``new_event_ids`` makes the same RFC 4122 version-4 UUIDs (122 random bits from the same
source, version and variant bits set) from one ``os.urandom`` call per batch;
``name_based_id`` is ``uuid5`` as text. Both give the canonical lowercase form the
schemas require.
"""

import hashlib
import os
import uuid


def new_event_ids(count: int) -> list[str]:
    """``count`` fresh random UUIDs (RFC 4122 version 4), canonical lowercase text."""
    random = bytearray(os.urandom(16 * count))
    ids: list[str] = []
    for start in range(0, 16 * count, 16):
        random[start + 6] = (random[start + 6] & 0x0F) | 0x40  # version 4
        random[start + 8] = (random[start + 8] & 0x3F) | 0x80  # variant RFC 4122
        h = random[start : start + 16].hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def name_based_id(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, without building a ``UUID`` object."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])  # noqa: S324
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # variant RFC 4122
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
