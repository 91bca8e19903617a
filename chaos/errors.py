"""Errors of the chaos runs."""

from schemas.errors import SplitstreamError


class ChaosError(SplitstreamError):
    """Root of the chaos runs' errors."""


class PromoterKillFailedError(ChaosError, AssertionError):
    """The kill or the recovery did not go as required; the message says what and shows the log."""
