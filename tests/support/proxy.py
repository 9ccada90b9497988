"""A TCP proxy on loopback that a test can stop and start: an RPC endpoint going away and back, or
a member partitioned from the broker (a plain TCP proxy carries TLS untouched)."""

from __future__ import annotations

import contextlib
import socket
import threading

from harness.ports import free_port


class TcpProxy:
    def __init__(self, target_port: int, port: int = 0) -> None:
        self.target_port = target_port
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        # a port of harness/ports.py's, not the kernel's bind(0): `start` after `stop` binds it
        # again, and one of the ephemeral range may meanwhile be an outgoing connection's
        self.port = port or free_port()
        self.accepted = 0  # connections carried so far (each reconnect through the proxy counts)
        self._silent = False  # blackholed: bytes are read and discarded both ways
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Listen (again, on the same port) and carry new connections to the target."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self.port = listener.getsockname()[1]
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones (a partition until `start`)."""
        with self._lock:
            if self._listener is not None:
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def blackhole(self) -> None:
        """A silent partition: connections stay open and new ones are accepted, but every byte is
        read and discarded in both directions (no reset, no refusal: only a timeout notices)."""
        self._silent = True

    def heal(self) -> None:
        """End a blackhole: the connections it broke are cut (their streams lost bytes), new ones
        are carried again."""
        with self._lock:
            self._silent = False
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            try:
                upstream.settimeout(None)
                for s in (client, upstream):  # bytes carried as they come (no Nagle wait)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                for s in (client, upstream):
                    s.close()
                continue
            with self._lock:
                if self._listener is not listener:  # stopped while this one was being connected
                    for s in (client, upstream):
                        s.close()
                    return
                self._conns |= {client, upstream}
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self._silent:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns.discard(src)
