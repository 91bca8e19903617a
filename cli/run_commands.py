"""``splitstream up`` and ``splitstream demo``: the whole system on one machine."""

import contextlib
import os
import signal
import sys
import threading

import click
from rich.console import Console

from cli.settings import Settings, get_settings
from schemas.errors import SplitstreamError
from stack import local, services
from stack.errors import StackError

console = Console()

#: What the demo changes unless the environment says otherwise: shadow scoring on half of
#: prod's requests (paired evidence decides with hundreds of feedback events, not thousands)
#: and a promoter that looks every 5 s, so the loop plays out in minutes.
DEMO_DEFAULTS = {
    "SPLITSTREAM_SHADOW_SHARE": "0.5",
    "SPLITSTREAM_PROMOTER_EVALUATE_EVERY_S": "5",
}


def _start_all() -> Settings:
    settings = local.up(get_settings())
    services.up(settings)
    return settings


@click.command()
def up() -> None:
    """Start the local stack and every Splitstream service, then return.

    \b
    Starts Kafka, S3 and MLflow (unless SPLITSTREAM_*_URL settings point elsewhere),
    then every service, each in the background with its log in the state folder:
      sink                  every topic into ClickHouse (chDB); /query, /metrics
      predictor-prod        the prod slot's predictor
      predictor-candidate   the candidate slot's predictor
      scorer                batch scoring: score.requests -> score.results
      gateway               HTTP on SPLITSTREAM_GATEWAY_PORT (7000): /v1, /api, /metrics
      promoter              decisions, swaps, the ledger; /metrics
      windows               the Faust agent: window counts -> triggers; /counts/, /metrics
    It writes <state dir>/prometheus/ too: a Prometheus config, the alerting rules and
    every service's /metrics address (`prometheus --config.file=<that>/prometheus.yml`).
    `splitstream stack status` shows them; `splitstream stack down` stops them all.

    \b
    Examples:
      splitstream up
      SPLITSTREAM_GATEWAY_PORT=7001 splitstream up
    """
    try:
        settings = _start_all()
    except StackError as error:
        raise click.ClickException(str(error)) from error
    _print_urls(settings)


@click.command()
@click.option(
    "--exit",
    "exit_after",
    is_flag=True,
    envvar="EXIT",
    help="Run the scenario, stop everything, and exit with its status (EXIT=1 does the same).",
)
def demo(exit_after: bool) -> None:
    """Run the whole system and its A/B loop: stack, services, models, decisions.

    \b
    It starts everything, trains and publishes a deliberately weak best model (when
    there is none) and a candidate, serves on the gateway port (7000), and prints the
    URLs and an example curl. Then it plays the loop on held-out traffic with true
    prices as feedback: the better candidate is promoted, a worse one rejected, and a
    bad promotion forced by hand is rolled back; it prints the ledger's decisions and
    `replay --verify`. It keeps running until Ctrl-C, which stops everything.

    \b
    Examples:
      splitstream demo
      EXIT=1 splitstream demo      # run the scenario, stop, exit 0 on success
    """
    from demo.loop import run_loop  # MLflow and scikit-learn: only when the demo runs
    from demo.scenario import bootstrap_models, run_scenario
    from demo.stopped_services import print_stopped_services

    for name, value in DEMO_DEFAULTS.items():
        os.environ.setdefault(name, value)
    get_settings.cache_clear()
    try:
        settings = _start_all()
        bootstrap_models(settings, console)
        _print_urls(settings)
        ok = run_scenario(settings, console) and run_loop(settings, console)
        if exit_after:
            sys.exit(0 if ok else 1)
        _wait_for_ctrl_c()
    except (StackError, SplitstreamError, TimeoutError) as error:
        console.print(f"[red]error:[/red] {error}")
        print_stopped_services(get_settings(), console)
        sys.exit(1)
    finally:
        console.print("stopping: " + ", ".join(local.down(get_settings())))


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print("running; Ctrl-C stops everything")
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def _print_urls(settings: Settings) -> None:
    base = f"http://localhost:{settings.gateway_port}"
    console.print(f"gateway     {base}  (OpenAPI: {base}/docs, metrics: {base}/metrics)")
    console.print(f"experiment  {base}/v1/experiment")
    console.print(f"mlflow      {settings.mlflow_uri}")
    console.print(f"s3          {settings.s3_endpoint}  bucket {settings.s3_bucket}")
    console.print("try:")
    console.print(
        f"  curl -s {base}/v1/predict -H 'content-type: application/json' "
        """-d '{"location":"1st Block Jayanagar","total_sqft":1000,"bath":2,"bhk":2}'""",
        soft_wrap=True,
    )
