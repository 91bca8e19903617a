"""Request ids carry a gateway's HMAC: any gateway or sink tells a served id from another."""

import uuid

import pytest

from cli.settings import load_settings
from plumbing.request_ids import RequestIds, for_settings, mint_request_id

KEY = b"a key shared by the gateways and the sink"


def test_a_minted_id_is_a_version_4_uuid_that_verifies_under_its_key_only() -> None:
    ids = RequestIds(KEY)

    minted = [ids.mint() for _ in range(1000)]

    assert len(set(minted)) == 1000
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in minted)
    assert all(ids.served(i) for i in minted)
    assert not any(RequestIds(b"another key of the same length!!").served(i) for i in minted)


@pytest.mark.parametrize(
    "request_id",
    [str(uuid.uuid4()), "not a uuid", "", "3f2c6a1e-9b4d-4c1a-8e2f-5a6b7c8d9e0f"],
    ids=["random-uuid4", "not-a-uuid", "empty", "fixed-uuid4"],  # the same in every xdist worker
)
def test_ids_no_gateway_minted_do_not_verify(request_id: str) -> None:
    assert not RequestIds(KEY).served(request_id)


def test_changing_any_byte_of_a_minted_id_breaks_it() -> None:
    ids = RequestIds(KEY)
    raw = bytearray(uuid.UUID(ids.mint()).bytes)
    for position in (0, 5, 8, 10, 15):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        assert not ids.served(str(uuid.UUID(bytes=bytes(changed)))), position


def test_the_key_comes_from_the_settings_and_must_be_there() -> None:
    settings = load_settings(request_id_key="k" * 32)

    assert for_settings(settings).served(mint_request_id(settings))
    with pytest.raises(ValueError, match="SPLITSTREAM_REQUEST_ID_KEY"):
        for_settings(load_settings(request_id_key=None))
    with pytest.raises(ValueError, match="16 bytes"):
        RequestIds(b"short")
