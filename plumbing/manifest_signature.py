"""Ed25519 signatures of model manifests: the trainer signs, the predictors verify.

The sha256 of each model file is in the manifest, and the manifest is written with the
same S3 keys every service holds; the signature, by a key only the trainer holds, is
what makes the manifest the trainer's. It covers the manifest's exact bytes and is
stored beside it (``manifest.sig``, base64). Keys are base64 of their raw 32 bytes.
"""

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from plumbing.errors import ModelSignatureError


def new_keypair() -> tuple[str, str]:
    """A fresh (private, public) key pair, each base64 of its raw 32 bytes."""
    private = Ed25519PrivateKey.generate()
    public = private.public_key()
    return _b64(private.private_bytes_raw()), _b64(public.public_bytes_raw())


def public_key_of(private_b64: str) -> str:
    """The public key (base64) that verifies what ``private_b64`` signs."""
    return _b64(_private(private_b64).public_key().public_bytes_raw())


def sign(private_b64: str, manifest: bytes) -> bytes:
    """The signature file's content: base64 of the Ed25519 signature of ``manifest``."""
    return base64.b64encode(_private(private_b64).sign(manifest))


def verify(public_b64: str | None, manifest: bytes, signature: bytes | None, *, what: str) -> None:
    """Check that ``signature`` (the signature file's content) signs ``manifest``.

    Raises:
        ModelSignatureError: no public key configured, no signature, or it does not verify.
    """
    if not public_b64:
        raise ModelSignatureError(
            f"{what}: no model verify key configured (SPLITSTREAM_MODEL_VERIFY_KEY); "
            "refusing an unverifiable model"
        )
    if signature is None:
        raise ModelSignatureError(f"{what}: the manifest is not signed; refusing it")
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64, validate=True))
        key.verify(base64.b64decode(signature.strip(), validate=True), manifest)
    except (InvalidSignature, binascii.Error, ValueError) as error:
        raise ModelSignatureError(
            f"{what}: the manifest's signature does not verify with the configured key; "
            "it was not signed by the trainer, or was changed since"
        ) from error


def _private(private_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_b64, validate=True))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
