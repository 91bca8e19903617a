"""Event ids made in bulk are the UUIDs the standard library would make."""

import re
import uuid

from plumbing.event_ids import name_based_id, new_event_ids
from schemas.fields import UUID_PATTERN


def test_new_event_ids_are_distinct_random_rfc4122_version_4_uuids() -> None:
    ids = new_event_ids(2000)

    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text  # canonical lowercase form
    assert all(re.match(UUID_PATTERN, text) for text in ids)
    assert new_event_ids(0) == []


def test_name_based_ids_are_uuid5() -> None:
    namespace = uuid.UUID("4f0c8f0e-6a43-5f7e-9a55-2f3c8a1d7b10")
    for name in ("score.requests/1/42", "", "deadletter:p.feedback/0/7", "ünïcode/3/9"):
        assert name_based_id(namespace, name) == str(uuid.uuid5(namespace, name))
