"""The one place Kafka clients get their identity: SASL settings per client library.

Every kafka-python, aiokafka and Faust client of Splitstream takes its security settings
from ``client_security``, so the protocol, the mechanism and the credentials are stated
once. Which principal a process is comes from ``settings.kafka_role`` (the stack names it
in each service's environment; each command sets its own otherwise). SASL costs only at
connect: one handshake per broker connection, nothing per message.
"""

import logging
from typing import Any, Literal

from plumbing.errors import KafkaCredentialsError
from plumbing.settings import ENV_PREFIX, KafkaRole
from plumbing.settings_kafka import KafkaSettings

Library = Literal["kafka-python", "aiokafka", "faust"]

# kafka-python warns at every SCRAM login over SASL_PLAINTEXT that credentials cross "in the
# clear". SCRAM sends a salted proof, never the password (RFC 5802); the stack's traffic stays
# on loopback, and a remote cluster should use SASL_SSL. The warning repeated per connection.
logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)


def client_security(settings: KafkaSettings, library: Library) -> dict[str, Any]:
    """Keyword arguments that give a client of ``library`` this process's Kafka identity.

    kafka-python and aiokafka take them on their producers, consumers and admin clients;
    for Faust they are ``faust.App`` settings (``broker_credentials``).

    Raises:
        KafkaCredentialsError: SASL is on and no role is set, or its password is missing.
    """
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {}
    user, password = _credentials(settings)
    if library == "faust":
        import faust  # only the agent pays for importing Faust

        credentials = faust.SASLCredentials(
            username=user,
            password=password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=_ssl_context(settings),
        )
        return {"broker_credentials": credentials}
    config: dict[str, Any] = {
        "security_protocol": settings.kafka_security_protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        if library == "aiokafka":
            config["ssl_context"] = _ssl_context(settings)
        elif settings.kafka_ssl_cafile is not None:
            config["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return config


def _credentials(settings: KafkaSettings) -> tuple[str, str]:
    role: KafkaRole | None = settings.kafka_role
    if role is None:
        raise KafkaCredentialsError(
            f"no Kafka principal chosen: set {ENV_PREFIX}KAFKA_ROLE (README: Kafka principals)"
        )
    password = settings.kafka_password(role)
    if password is None:
        raise KafkaCredentialsError(
            f"no password for the Kafka principal {settings.kafka_user(role)}: set "
            f"{ENV_PREFIX}KAFKA_PASSWORD_{role.upper()} (`splitstream stack up` writes the "
            "local stack's into local.env)"
        )
    return settings.kafka_user(role), password.get_secret_value()


def _ssl_context(settings: KafkaSettings) -> Any:
    if settings.kafka_security_protocol != "SASL_SSL":
        return None
    from aiokafka.helpers import create_ssl_context

    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return create_ssl_context(cafile=cafile)
