"""A doorbell between the processes of one installation on one machine.

A commit that queued work rings it; the loop that does the work (the exchange outbox in
`serve` or `lienthong worker`) wakes at once instead of at its next poll. The bell is a
datagram socket in Linux's abstract namespace, named after the database, so the API
processes of `serve --processes N` reach the worker in their parent and nothing is left
on disk. Ringing never blocks or fails; a worker on another machine, or a second worker
on this one, still finds the work by polling.
"""

from __future__ import annotations

import hashlib
import select
import socket
import sys
import threading

__all__ = ["Doorbell", "Listener"]

_SLICE = 0.25  # the longest a waiting loop goes without looking at its stop flag


class Listener:
    """The bound end of a doorbell: `wait` returns when it rings or the time is up."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Wait up to `timeout` seconds for a ring (or `stop`); True when it rang. Rings that
        came meanwhile are all taken: one round of work answers every one of them."""
        remaining = timeout
        while remaining > 0 and not stop.is_set():
            step = min(remaining, _SLICE)
            if select.select([self._sock], [], [], step)[0]:
                self._drain()
                return True
            remaining -= step
        return False

    def _drain(self) -> None:
        try:
            while True:
                self._sock.recv(16)
        except BlockingIOError:
            pass

    def close(self) -> None:
        """Release the name, so another process may listen."""
        self._sock.close()


class Doorbell:
    """The bell of the installation whose database is `name` (a URL or any stable text)."""

    def __init__(self, name: str) -> None:
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        self.address = b"\0lienthong-" + digest.encode()
        self._out: socket.socket | None = None
        self._lock = threading.Lock()

    def ring(self) -> None:
        """Tell the listening loop there is work; nobody listening is not an error."""
        if not sys.platform.startswith("linux"):
            return
        with self._lock:
            try:
                if self._out is None:
                    self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._out.setblocking(False)
                self._out.sendto(b"!", self.address)
            except OSError:
                # No listener (ECONNREFUSED), or its queue is full of rings already.
                pass

    def listen(self) -> Listener | None:
        """Take the bell's name; None when another process already listens (it will do the
        work) or the platform has no abstract sockets (the loop then only polls)."""
        if not sys.platform.startswith("linux"):
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return Listener(sock)
