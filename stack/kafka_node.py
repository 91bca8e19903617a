"""Building blocks for a single-node Apache Kafka (KRaft, combined broker+controller).

Kafka comes from its Maven Central jars (``stack/kafka/pom.xml``) rather than Docker
or the release tarball, because Maven Central is the only place this project can
fetch from. This module only computes the jars, paths and command lines
(``kafka_properties`` renders server.properties); ``kafka_admin`` talks to a running
broker; starting, watching and stopping the JVM is the supervisor's job.

Typical use by a supervisor::

    install_jars(lib_dir)
    listeners = NodeListeners("127.0.0.1", client_port=9092, internal_port=9094,
                              controller_port=9093)
    props.write_text(render_server_properties(data_dir=d, listeners=listeners,
                                              auth=BrokerAuth("splitstream-admin", pw)))
    if needs_format(d):
        subprocess.run(format_command(lib_dir=lib_dir, properties_file=props,
                                      cluster_id=new_cluster_id()), check=True)
    proc = subprocess.Popen(server_command(lib_dir=lib_dir, properties_file=props,
                                           log4j_config=LOG4J_CONFIG), stdout=log)
    # poll is_ready("127.0.0.1:9094", security=...), then kafka_access.provision(...)
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from stack import maven

KAFKA_DIR = Path(__file__).resolve().parent / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J_CONFIG = KAFKA_DIR / "log4j2.xml"

NODE_ID = 1
LOG_DIR_NAME = "kraft-logs"


def pinned_kafka_version(pom: Path = POM) -> str:
    """The ``kafka.version`` of the pom, so the version lives in one place."""
    return maven.pom_property(pom, "kafka.version")


def install_jars(lib_dir: Path, *, pom: Path | None = None) -> None:
    """Copy Kafka, its runtime classpath and a log4j2 backend into ``lib_dir``, once."""
    pom = pom or POM
    maven.install_jars(
        service="kafka",
        pom=pom,
        lib_dir=lib_dir,
        expected_jar=f"kafka_2.13-{pinned_kafka_version(pom)}.jar",
    )


def log_dir(data_dir: Path) -> Path:
    """Where the broker keeps its logs and meta.properties (inside ``data_dir``).

    A subdirectory, so the supervisor can keep server.properties or other files in
    ``data_dir`` without Kafka mistaking them for log-dir content.
    """
    return data_dir / LOG_DIR_NAME


def format_command(*, lib_dir: Path, properties_file: Path, cluster_id: str) -> list[str]:
    """Command that writes meta.properties and the bootstrap metadata (first start only).

    ``--ignore-formatted`` makes a repeated run a no-op instead of an error, so a
    race between ``needs_format`` and the command cannot break a start.
    """
    return [
        maven.java_executable(),
        "-Xmx256m",
        "-cp",
        maven.classpath(lib_dir),
        "kafka.tools.StorageTool",
        "format",
        "--config",
        str(properties_file),
        f"--cluster-id={cluster_id}",  # one token: an id may start with "-"
        "--ignore-formatted",
    ]


def needs_format(data_dir: Path) -> bool:
    """True until the storage tool has written meta.properties into the log dir."""
    return not (log_dir(data_dir) / "meta.properties").is_file()


def server_command(
    *, lib_dir: Path, properties_file: Path, log4j_config: Path, heap_mb: int = 512
) -> list[str]:
    """Command that runs the broker in the foreground until SIGTERM.

    Heap is capped and starts small because several JVMs share 2 cores here;
    SerialGC has the smallest footprint and pauses that do not matter for a dev
    broker. OOM exits the JVM so the supervisor sees a crash, not a zombie.
    """
    return [
        maven.java_executable(),
        f"-Xms{min(heap_mb, 64)}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseSerialGC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j_config.resolve()}",
        "-cp",
        maven.classpath(lib_dir),
        "kafka.Kafka",
        str(properties_file),
    ]


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID as 22 chars of unpadded base64url.

    Same shape as ``kafka-storage random-uuid``, without starting a JVM for it, and
    like Kafka's ``Uuid.randomUuid`` it never starts with "-": command-line parsers
    (Kafka's tools included) would read such an id as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id
