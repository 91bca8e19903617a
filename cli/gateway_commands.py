"""``splitstream gateway``: the HTTP gateway (FastAPI on uvicorn, one worker)."""

import logging

import click
import uvicorn

from plumbing.settings import get_settings


@click.command()
@click.option("--host", default=None, help="Bind address [default: SPLITSTREAM_GATEWAY_HOST].")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="HTTP port [default: SPLITSTREAM_GATEWAY_PORT, 7000].",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def gateway(host: str | None, port: int | None, log_level: str) -> None:
    """Serve predictions over HTTP through Kafka, with the A/B split.

    Kafka, S3, the reply partition, the deadline and the admin token come from the
    SPLITSTREAM_* settings. Run one instance per reply partition.

    \b
    Examples:
      splitstream gateway
      splitstream gateway --port 7001 --host 0.0.0.0
      SPLITSTREAM_GATEWAY_REPLY_PARTITION=1 splitstream gateway --port 7001
      curl -s localhost:7000/v1/predict -H 'content-type: application/json' \\
        -d '{"location": "Whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2, "key": "u1"}'
    """
    settings = get_settings()
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "gateway.main:create_app",
        factory=True,
        host=host or settings.gateway_host,
        port=settings.gateway_port if port is None else port,
        workers=1,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":  # python -m cli.gateway_commands, until cli/main.py wires it
    gateway()
