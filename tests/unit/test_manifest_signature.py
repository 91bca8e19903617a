"""Manifest signatures: the trainer's key signs, only the matching public key verifies."""

import base64

import pytest
from pydantic import SecretStr

from cli.settings import load_settings
from plumbing import manifest_signature
from plumbing.errors import ModelSignatureError
from trainer.errors import PublishError
from trainer.signing import manifest_signer

MANIFEST = b'{"files": {"model.pkl": "ab12"}, "version": "m-1"}'


def test_a_signature_verifies_with_the_public_key_of_its_private_key() -> None:
    private, public = manifest_signature.new_keypair()

    signature = manifest_signature.sign(private, MANIFEST)

    manifest_signature.verify(public, MANIFEST, signature, what="m-1")
    assert manifest_signature.public_key_of(private) == public
    assert len(base64.b64decode(signature)) == 64


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"manifest": MANIFEST.replace(b"ab12", b"ab13")}, "does not verify"),
        ({"public": manifest_signature.new_keypair()[1]}, "does not verify"),
        ({"signature": b"not base64 !"}, "does not verify"),
        ({"signature": None}, "not signed"),
        ({"public": None}, "SPLITSTREAM_MODEL_VERIFY_KEY"),
        ({"public": "c2hvcnQ="}, "does not verify"),
    ],
)
def test_a_changed_manifest_a_foreign_key_or_no_signature_is_refused(
    changed: dict[str, object], why: str
) -> None:
    private, public = manifest_signature.new_keypair()
    arguments = {
        "public": public,
        "manifest": MANIFEST,
        "signature": manifest_signature.sign(private, MANIFEST),
        **changed,
    }

    with pytest.raises(ModelSignatureError, match=why):
        manifest_signature.verify(
            arguments["public"],  # type: ignore[arg-type]
            arguments["manifest"],  # type: ignore[arg-type]
            arguments["signature"],  # type: ignore[arg-type]
            what="m-1",
        )


def test_the_trainer_signs_only_with_a_key_that_matches_the_verify_key() -> None:
    private, public = manifest_signature.new_keypair()
    _, other_public = manifest_signature.new_keypair()

    signer = manifest_signer(
        load_settings(model_signing_key=SecretStr(private), model_verify_key=public)
    )
    manifest_signature.verify(public, MANIFEST, signer(MANIFEST), what="m-1")
    with pytest.raises(PublishError, match="does not match"):
        manifest_signer(
            load_settings(model_signing_key=SecretStr(private), model_verify_key=other_public)
        )
    with pytest.raises(PublishError, match="SPLITSTREAM_MODEL_SIGNING_KEY"):
        manifest_signer(load_settings(model_signing_key=None))
