"""Ports for a local stack's services: which are free, and which to pick one from."""

import random
import socket
import time
from pathlib import Path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


#: The lowest port a private stack listens on.
LISTEN_PORT_MIN = 10_000
EPHEMERAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def listen_ports(ephemeral_low: int, *, headroom: int = 0) -> range:
    """The ports to pick a service's from: below the kernel's ephemeral range, so that no
    outgoing connection takes one while its service restarts. A client reconnecting to a
    stopped broker may even be given the broker's own port as its source and connect to
    itself (a TCP self-connect); with hundreds of reconnects, a broker killed for 20 s
    found its port taken. ``headroom``: room above the port for a ladder of them."""
    return range(LISTEN_PORT_MIN, max(LISTEN_PORT_MIN + 1, ephemeral_low - headroom))


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_PORT_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(*, headroom: int = 0, attempts: int = 200) -> int:
    """A port nobody listens on now, below the ephemeral range; tests use it to run a
    stack beside another.

    Raises:
        RuntimeError: none free after ``attempts`` random picks.
    """
    ports = listen_ports(_ephemeral_low(), headroom=headroom)
    for _ in range(attempts):
        port = random.choice(ports)  # noqa: S311 (a port, not a secret)
        if port_is_free(port):
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} after {attempts} tries")


def wait_ports_free(ports: list[int], *, timeout_s: float) -> None:
    """Wait up to ``timeout_s`` until nobody listens on any of ``ports`` (no error after)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not all(port_is_free(p) for p in ports):
        time.sleep(0.1)
