"""Settings the gateway refuses at start-up."""

from gateway.settings import GatewaySettings
from plumbing.request_ids import for_settings

#: Admin tokens that are clearly not secret.
PLACEHOLDER_TOKENS = frozenset({"changethis", "changeme", "admin", "secret", "token", "password"})
MIN_TOKEN_CHARS = 16


def check_settings(settings: GatewaySettings) -> None:
    """Refuse a missing request id key, and a placeholder or short admin token (no token
    at all disables admin).

    Raises:
        ValueError: naming the setting, never its value.
    """
    for_settings(settings)  # feedback could not tell a served request without it
    token = settings.admin_token
    if token is None:
        return
    value = token.get_secret_value()
    if value.strip().lower() in PLACEHOLDER_TOKENS or len(value) < MIN_TOKEN_CHARS:
        raise ValueError(
            "SPLITSTREAM_ADMIN_TOKEN is a placeholder or shorter than "
            f"{MIN_TOKEN_CHARS} characters; set a random one (or unset it to disable admin)"
        )
