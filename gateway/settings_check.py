"""Settings the gateway refuses at start-up."""

from plumbing.settings import Settings

#: Admin tokens that are clearly not secret.
PLACEHOLDER_TOKENS = frozenset({"changethis", "changeme", "admin", "secret", "token", "password"})
MIN_TOKEN_CHARS = 16


def check_settings(settings: Settings) -> None:
    """Refuse a placeholder or short admin token (no token at all disables admin).

    Raises:
        ValueError: naming the setting, never its value.
    """
    token = settings.admin_token
    if token is None:
        return
    value = token.get_secret_value()
    if value.strip().lower() in PLACEHOLDER_TOKENS or len(value) < MIN_TOKEN_CHARS:
        raise ValueError(
            "SPLITSTREAM_ADMIN_TOKEN is a placeholder or shorter than "
            f"{MIN_TOKEN_CHARS} characters; set a random one (or unset it to disable admin)"
        )
