"""Errors of the shared plumbing."""


class SplitstreamError(Exception):
    """Root of every Splitstream error."""


class SlotConflictError(SplitstreamError):
    """A conditional S3 write lost: the object changed (If-Match) or exists (If-None-Match)."""


class ModelNotFoundError(SplitstreamError):
    """A model version, or one of its files, is not in the store."""


class ModelIntegrityError(SplitstreamError):
    """A model file's sha256 differs from its manifest; it was not unpickled."""


class SplitWriteError(SplitstreamError):
    """The candidate share could not be stored in S3."""


class PromoterUnavailableError(SplitstreamError):
    """No promoter answered a command in time (none is running, or it is stuck)."""


class ModelSignatureError(ModelIntegrityError):
    """A model's manifest is unsigned, or its signature fails the configured public key."""


class KafkaCredentialsError(SplitstreamError):
    """SASL is on, but this process has no Kafka principal or no password for it."""
