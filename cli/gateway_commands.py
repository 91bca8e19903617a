"""``splitstream gateway``: the HTTP gateway (FastAPI on uvicorn, one or more worker processes)."""

import click

from gateway.settings import GatewaySettings


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
    SPLITSTREAM_* settings. SPLITSTREAM_GATEWAY_WORKERS=N runs N processes on the one
    port (SO_REUSEPORT), each owning reply partition SPLITSTREAM_GATEWAY_REPLY_PARTITION
    + its index; another gateway elsewhere needs its own partitions.

    \b
    Examples:
      splitstream gateway
      splitstream gateway --port 7001 --host 0.0.0.0
      SPLITSTREAM_GATEWAY_REPLY_PARTITION=1 splitstream gateway --port 7001
      SPLITSTREAM_GATEWAY_WORKERS=2 splitstream gateway
      curl -s localhost:7000/v1/predict -H 'content-type: application/json' \\
        -d '{"location": "Whitefield", "total_sqft": 1200, "bath": 2, "bhk": 2, "key": "u1"}'
    """
    from gateway import workers  # lazy: keeps `--help` fast

    workers.run(GatewaySettings.load(), host=host, port=port, log_level=log_level)


if __name__ == "__main__":  # python -m cli.gateway_commands: how the integration tests start it
    gateway()
