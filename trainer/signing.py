"""The trainer's signature on each manifest it publishes: the key only it holds.

``SPLITSTREAM_MODEL_SIGNING_KEY`` (generated into local.env by ``stack up``) signs;
predictors verify with ``SPLITSTREAM_MODEL_VERIFY_KEY`` before they trust a manifest.
"""

from collections.abc import Callable

from plumbing import manifest_signature
from trainer.errors import PublishError
from trainer.settings import TrainerSettings


def manifest_signer(settings: TrainerSettings) -> Callable[[bytes], bytes]:
    """A function that signs manifest bytes with the trainer's private key.

    Raises:
        PublishError: no signing key, or it does not match the configured verify key
            (the predictors would refuse every model it signs).
    """
    if settings.model_signing_key is None:
        raise PublishError(
            "no model signing key (SPLITSTREAM_MODEL_SIGNING_KEY): run `splitstream stack up` "
            "to generate one into local.env"
        )
    private = settings.model_signing_key.get_secret_value()
    try:
        public = manifest_signature.public_key_of(private)
    except ValueError as error:
        raise PublishError(
            f"SPLITSTREAM_MODEL_SIGNING_KEY is not an Ed25519 key: {error}"
        ) from error
    if settings.model_verify_key and settings.model_verify_key != public:
        raise PublishError(
            "SPLITSTREAM_MODEL_SIGNING_KEY does not match SPLITSTREAM_MODEL_VERIFY_KEY: "
            "predictors would refuse every model signed with it"
        )
    return lambda manifest: manifest_signature.sign(private, manifest)
