"""Errors of the promoter: a policy file it cannot use, an action the slots refuse."""

from schemas.errors import SplitstreamError


class PromoterError(SplitstreamError):
    """Root of the promoter's errors."""


class PolicyError(PromoterError, ValueError):
    """The policy file is missing, not TOML, or breaks a rule of ``Policy``."""


class TransitionRefusedError(PromoterError, ValueError):
    """The action makes no sense for these slots (e.g. promote with no candidate)."""
