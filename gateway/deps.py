"""What routes are injected with: the settings, the running gateway, the admin check."""

import secrets
from typing import Annotated

from fastapi import Depends, Header, Request
from pydantic import SecretStr

from gateway.errors import AdminDisabledError, ServiceUnavailableError, UnauthorizedError
from gateway.lifespan import Gateway
from gateway.schemas import SPLIT_KEY_HEADER
from gateway.settings import GatewaySettings

# Every dependency here is ``async def``: FastAPI runs a plain ``def`` dependency in a
# thread pool, a thread hand-off per request that the hot path should not pay.


async def get_app_settings(request: Request) -> GatewaySettings:
    """The settings this app was built with (``create_app``)."""
    settings: GatewaySettings = request.app.state.settings
    return settings


SettingsDep = Annotated[GatewaySettings, Depends(get_app_settings)]


def running_gateway(request: Request) -> Gateway:
    """The clients the lifespan opened; 503 while the app is starting or stopping."""
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        raise ServiceUnavailableError("the gateway is starting or stopping")
    return gateway


async def get_gateway(request: Request) -> Gateway:
    """``running_gateway`` as a dependency."""
    return running_gateway(request)


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def header_split_key(
    x_split_key: Annotated[
        str | None,
        Header(
            alias=SPLIT_KEY_HEADER,
            min_length=1,
            max_length=200,
            description="Split key, when the body has none.",
        ),
    ] = None,
) -> str | None:
    return x_split_key


HeaderKeyDep = Annotated[str | None, Depends(header_split_key)]


def check_admin_token(expected: SecretStr | None, authorization: str | None) -> None:
    """Accept ``Authorization: Bearer <token>`` only when it matches the admin token.

    The comparison takes the same time whatever the token, and the token is never
    logged or echoed.

    Raises:
        AdminDisabledError: no admin token is configured (503).
        UnauthorizedError: the header is missing, not a bearer token, or wrong (401).
    """
    if expected is None:
        raise AdminDisabledError("admin disabled: no SPLITSTREAM_ADMIN_TOKEN is configured")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not authorization:
        raise UnauthorizedError(
            "admin actions need an Authorization: Bearer <token> header",
            field="Authorization",
            headers=challenge,
        )
    scheme, _, token = authorization.partition(" ")
    given = token.strip().encode()
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        given, expected.get_secret_value().encode()
    ):
        raise UnauthorizedError("wrong admin token", field="Authorization", headers=challenge)


async def require_admin(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    check_admin_token(settings.admin_token, authorization)
