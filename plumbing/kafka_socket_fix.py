"""kafka-python 3.0.12 leaves a socket open when a connect fails; this closes it.

``KafkaNetSocket.connect`` creates the socket and returns ``sock_connect``'s result, but
when the connect is refused (a broker of a cluster is down, or restarting) nothing closes
the socket: one file descriptor per attempt until the garbage collector finds it, and a
ResourceWarning each (an error in the tests). ``install()`` replaces the method with the
same steps plus the close; imported by every module that builds a kafka-python client.
"""

import socket
from typing import Any

from kafka.net.inet import KafkaNetSocket

_original_connect = KafkaNetSocket.connect


async def _connect_closing_on_failure(
    self: KafkaNetSocket,
    net: Any,
    addrinfo: tuple[Any, ...],
    socket_options: Any = (),
    timeout_at: float | None = None,
) -> socket.socket:
    """``KafkaNetSocket.connect`` of kafka-python 3.0.12, closing the socket when it fails."""
    family, sock_type, proto, _canonname, sockaddr = addrinfo
    sock = self.socket(family, sock_type, proto)
    try:
        sock.setblocking(False)
        for option in socket_options:
            sock.setsockopt(*option)
        connected: socket.socket = await self.sock_connect(
            net, sock, sockaddr, timeout_at=timeout_at
        )
    except BaseException:
        sock.close()
        raise
    return connected


def install() -> None:
    """Patch the plain-socket class only (the proxy classes have their own ``connect``)."""
    if KafkaNetSocket.connect is _original_connect:
        KafkaNetSocket.connect = _connect_closing_on_failure


install()
