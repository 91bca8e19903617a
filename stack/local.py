"""The local stack: S3 server, Kafka broker and MLflow server as detached processes.

All state lives in ``settings.state_dir``. A service whose URL is configured
(an existing Kafka, S3 or MLflow) is not started; it is only checked.
"""

import secrets
from typing import TypeVar
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from plumbing import manifest_signature
from plumbing.s3 import s3_client
from plumbing.settings import ENV_PREFIX, KAFKA_ROLES, local_env_file
from plumbing.settings_stack import StackSettings
from stack import (
    kafka_access,
    kafka_node,
    kafka_service,
    mlflow_server,
    s3_server,
    services,
    state_dirs,
    supervisor,
)
from stack.errors import ServiceStartError
from stack.kafka_service import process as kafka_process
from stack.paths import StackPaths
from stack.supervisor import ServiceProcess, ServiceStatus

__all__ = [
    "ServiceStatus",
    "StackPaths",
    "down",
    "external_services",
    "install",
    "kafka_process",
    "status",
    "up",
]

#: The settings class a caller passes (the stack's own, or every setting): returned reloaded.
AnyStackSettings = TypeVar("AnyStackSettings", bound=StackSettings)


def new_credentials(*, kafka: bool = True) -> dict[str, str]:
    """Fresh random values for every secret the local stack generates (README: Security).

    ``kafka``: also a SASL password per Kafka principal (only for the stack's own broker;
    an existing cluster's passwords come from its owners).
    """
    signing_key, verify_key = manifest_signature.new_keypair()
    passwords = {f"{ENV_PREFIX}KAFKA_PASSWORD_{role.upper()}": _password() for role in KAFKA_ROLES}
    return {
        "SPLITSTREAM_S3_ACCESS_KEY": f"local-{secrets.token_hex(6)}",
        "SPLITSTREAM_S3_SECRET_KEY": secrets.token_urlsafe(24),
        "SPLITSTREAM_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "SPLITSTREAM_QUERY_TOKEN": secrets.token_urlsafe(24),
        "SPLITSTREAM_REQUEST_ID_KEY": secrets.token_urlsafe(32),
        "SPLITSTREAM_MODEL_SIGNING_KEY": signing_key,
        "SPLITSTREAM_MODEL_VERIFY_KEY": verify_key,
        **(passwords if kafka else {}),
    }


def _password() -> str:
    """URL-safe random text: it goes into JAAS lines between double quotes."""
    return secrets.token_urlsafe(24)


def missing_lines(existing: str, generated: dict[str, str]) -> list[str]:
    """``NAME=value`` lines for the generated names that ``existing`` (local.env) lacks.

    The two model keys go together: a file with one of them keeps it and gets neither.
    """
    present = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line}
    pair = {"SPLITSTREAM_MODEL_SIGNING_KEY", "SPLITSTREAM_MODEL_VERIFY_KEY"}
    skip = pair if pair & present else set()
    return [f"{k}={v}" for k, v in generated.items() if k not in present and k not in skip]


def ensure_local_credentials(settings: AnyStackSettings) -> AnyStackSettings:
    """Generate the local secrets once, into ``<state_dir>/local.env`` (mode 600).

    Nothing secret is committed: each state folder gets its own random values. A file
    written by an older version gets the secrets it lacks appended; values in it stay.
    The state folder is made private (mode 700).
    """
    state_dirs.make_private(settings.state_dir)
    env_file = local_env_file(settings.state_dir)
    existing = env_file.read_text() if env_file.exists() else ""
    lines = missing_lines(existing, new_credentials(kafka=settings.local_kafka))
    if lines:
        env_file.touch(mode=0o600)
        env_file.chmod(0o600)
        separator = "" if not existing or existing.endswith("\n") else "\n"
        env_file.write_text(existing + separator + "\n".join(lines) + "\n")
    return type(settings).load(state_dir=settings.state_dir)


def install(settings: StackSettings) -> None:
    """Fetch the jars of the services that run locally (Maven; skipped when present)."""
    if settings.local_kafka:
        kafka_node.install_jars(settings.lib_dir / "kafka")
    if settings.local_s3:
        s3_server.install(settings.lib_dir / "s3")


def _keys(settings: StackSettings) -> tuple[str, str]:
    if settings.s3_access_key is None or settings.s3_secret_key is None:
        raise ServiceStartError("s3: no access key configured (run `splitstream stack up`)")
    return settings.s3_access_key.get_secret_value(), settings.s3_secret_key.get_secret_value()


def _write_s3_config(settings: StackSettings) -> None:
    access_key, secret_key = _keys(settings)
    paths = StackPaths(settings.state_dir)
    properties = paths.s3_dir / "s3proxy.properties"
    state_dirs.make_private(properties.parent)
    properties.touch(mode=0o600)
    properties.write_text(
        s3_server.render_properties(
            data_dir=paths.s3_dir / "data",
            port=settings.s3_port,
            access_key=access_key,
            secret_key=secret_key,
            host=settings.stack_host,
        )
    )


def s3_process(settings: StackSettings) -> ServiceProcess:
    paths = StackPaths(settings.state_dir)
    properties = paths.s3_dir / "s3proxy.properties"
    return ServiceProcess(
        name="s3",
        command=s3_server.server_command(
            lib_dir=settings.lib_dir / "s3", properties_file=properties
        ),
        ports=[settings.s3_port],
        log_file=paths.log_dir / "s3.log",
        run_dir=paths.run_dir,
        is_ready=lambda: s3_server.is_ready(settings.s3_endpoint),
        start_timeout_s=settings.s3_start_timeout_s,
    )


def mlflow_process(settings: StackSettings) -> ServiceProcess:
    paths = StackPaths(settings.state_dir)
    access_key, secret_key = _keys(settings) if settings.s3_access_key else ("", "")
    return ServiceProcess(
        name="mlflow",
        command=mlflow_server.server_command(
            host=settings.stack_host,
            port=settings.mlflow_port,
            db_file=paths.mlflow_dir / "mlflow.db",
            artifacts_destination=f"s3://{settings.s3_bucket}/{settings.mlflow_artifact_prefix}",
        ),
        env=mlflow_server.server_env(
            s3_endpoint=settings.s3_endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=settings.s3_region,
        ),
        ports=[settings.mlflow_port],
        log_file=paths.log_dir / "mlflow.log",
        run_dir=paths.run_dir,
        is_ready=lambda: mlflow_server.is_ready(settings.mlflow_uri),
        start_timeout_s=settings.mlflow_start_timeout_s,
        cwd=paths.mlflow_dir,
    )


def local_processes(settings: StackSettings) -> list[ServiceProcess]:
    """The processes this stack runs itself, in start order."""
    processes = []
    if settings.local_s3:
        processes.append(s3_process(settings))
    if settings.local_kafka:
        processes += kafka_service.processes(settings)
    if settings.local_mlflow:
        processes.append(mlflow_process(settings))
    return processes


def up(settings: AnyStackSettings) -> AnyStackSettings:
    """Install what is missing, start every local service, create bucket and topics.

    Returns:
        The settings, reloaded with the generated local credentials.

    Raises:
        ServiceStartError: naming the service that did not answer and its log.
    """
    settings = ensure_local_credentials(settings)
    install(settings)
    for group in _start_groups(local_processes(settings)):
        _prepare(settings, group[0])
        if len(group) == 1:
            supervisor.start(group[0])
        else:
            supervisor.start_all(group)
        _after_start(settings, group[0].name)
    _check_external(settings)
    return settings


def _start_groups(processes: list[ServiceProcess]) -> list[list[ServiceProcess]]:
    """The processes in start order, a cluster's Kafka nodes as one group: they start
    together, since no node answers before a majority of the quorum runs."""
    groups: list[list[ServiceProcess]] = []
    for process in processes:
        if groups and kafka_service.is_kafka_node(process.name) and process.name != "kafka":
            groups[-1].append(process)
        else:
            groups.append([process])
    return groups


def _prepare(settings: StackSettings, process: ServiceProcess) -> None:
    if process.name == "s3":
        _write_s3_config(settings)
    if process.name == "kafka":
        kafka_service.write_config(settings)
        kafka_service.format_storage(settings, process)
    if process.name == "mlflow":
        state_dirs.make_private(StackPaths(settings.state_dir).mlflow_dir)


def _after_start(settings: StackSettings, name: str) -> None:
    if name == "s3":
        s3_server.ensure_bucket(s3_client(settings), settings.s3_bucket)
    if name == "kafka":
        kafka_access.ensure_users(settings)
        kafka_access.provision(settings)


def _check_external(settings: StackSettings) -> None:
    """Services configured by URL are not ours to start, but they must answer."""
    if not settings.local_s3:
        try:
            s3_server.ensure_bucket(s3_client(settings), settings.s3_bucket)
        except (BotoCoreError, ClientError) as error:
            raise ServiceStartError(
                f"s3 at {settings.s3_endpoint}: cannot use bucket {settings.s3_bucket}: {error}"
            ) from error
    if not settings.local_kafka:
        kafka_service.check_external(settings)
    if not settings.local_mlflow and not mlflow_server.is_ready(settings.mlflow_uri, 10):
        raise ServiceStartError(f"mlflow at {settings.mlflow_uri} does not answer")


def down(settings: StackSettings) -> list[str]:
    """Stop Splitstream's services, then the backing ones. Returns the names that ran."""
    stopped = services.down(settings)
    for group in reversed(_start_groups(local_processes(settings))):
        stopped += supervisor.stop_all(list(reversed(group)))
    return stopped


def status(settings: StackSettings) -> list[ServiceStatus]:
    """The backing services, then those of Splitstream's services that were started."""
    started = [p for p in services.app_processes(settings) if p.pid_file.exists()]
    return [supervisor.status(process) for process in [*local_processes(settings), *started]]


def external_services(settings: StackSettings) -> list[tuple[str, str]]:
    """Services the stack does not run as processes, with where they are."""
    services = []
    if not settings.local_kafka:
        services.append(("kafka", settings.kafka_bootstrap))
    if not settings.local_s3:
        services.append(("s3", settings.s3_endpoint))
    if not settings.local_mlflow:
        services.append(("mlflow", settings.mlflow_uri))
    if settings.clickhouse_url:
        services.append(("clickhouse", _without_password(settings.clickhouse_url)))
    else:
        services.append(("clickhouse", f"embedded chDB, data in {settings.chdb_path}"))
    return services


def _without_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@")
