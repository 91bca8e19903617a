"""Errors of the local stack."""

from schemas.errors import SplitstreamError


class StackError(SplitstreamError):
    """Root of every local-stack error."""


class ServiceStartError(StackError):
    """A service did not start; the message names the service and its log file."""


class InstallError(StackError):
    """A build step (Maven, pip) failed; the message names the command."""
