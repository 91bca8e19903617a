"""Fetch a service's jars with Maven, once, and find the java to run them.

Each service has a pom under ``stack/<service>/`` whose ``package`` step
copies its runtime classpath into ``-Dlib.dir``. A marker holding the pom's
digest makes the step idempotent: any pin change re-fetches.
"""

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from stack.errors import InstallError

MARKER_NAME = ".installed"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _marker_text(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest() + "\n"


def is_installed(lib_dir: Path, pom: Path, expected_jar: str) -> bool:
    """True when the marker matches this pom and the service's main jar is present."""
    marker = lib_dir / MARKER_NAME
    return (
        (lib_dir / expected_jar).is_file()
        and marker.is_file()
        and marker.read_text() == _marker_text(pom)
    )


def install_jars(*, service: str, pom: Path, lib_dir: Path, expected_jar: str) -> None:
    """Copy ``pom``'s runtime classpath into ``lib_dir`` unless already there.

    Old jars go first, because ``java -cp dir/*`` would load two versions of a
    library side by side. The marker is written last, so an interrupted
    install is redone next time.

    Raises:
        InstallError: Maven is missing or failed; the message holds its output.
    """
    pom, lib_dir = pom.resolve(), lib_dir.resolve()
    if is_installed(lib_dir, pom, expected_jar):
        return
    lib_dir.mkdir(parents=True, exist_ok=True)
    (lib_dir / MARKER_NAME).unlink(missing_ok=True)
    for jar in lib_dir.glob("*.jar"):
        jar.unlink()
    _run_maven(service, pom, lib_dir)
    if not (lib_dir / expected_jar).is_file():
        raise InstallError(f"{service}: {pom} did not yield {expected_jar} in {lib_dir}")
    (lib_dir / MARKER_NAME).write_text(_marker_text(pom))


def _run_maven(service: str, pom: Path, lib_dir: Path) -> None:
    """Run the pom's copy step. Output is kept for errors only: Debian's Maven
    prints stray colour codes even with ``-B -q``."""
    if shutil.which("mvn") is None:
        raise InstallError(f"{service}: `mvn` is not on PATH (apt-get install maven)")
    command = ["mvn", "-B", "-q", "-f", str(pom), f"-Dlib.dir={lib_dir}", "package"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = _ANSI.sub("", done.stdout + done.stderr).strip()[-4000:]
        shown = " ".join(command)
        raise InstallError(f"{service}: `{shown}` failed ({done.returncode}):\n{output}")


def pom_property(pom: Path, name: str) -> str:
    """A ``<properties>`` value of ``pom``, so each version is pinned in one place."""
    pattern = rf"<{re.escape(name)}>\s*([^<\s]+)\s*</{re.escape(name)}>"
    match = re.search(pattern, pom.read_text())
    if match is None:
        raise InstallError(f"{pom} has no <{name}> property")
    return match.group(1)


def java_executable() -> str:
    """``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    return "java"


def classpath(lib_dir: Path) -> str:
    """Java expands ``dir/*`` itself, so no shell is needed."""
    return f"{lib_dir.resolve()}/*"
