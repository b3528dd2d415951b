"""A TCP forwarder on loopback whose link a test can cut and restore: the border link's 'firewall'.

Cutting shuts every forwarded connection down and refuses new ones, as a blocked port or a
broken line does; restoring accepts again, and Zenoh reconnects by itself.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableLink:
    """Listens on a free loopback port (``port``) and forwards each connection to ``target_port``."""

    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind((host, 0))
        self._server.listen(16)
        self.port: int = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.cut = False
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="tcp_cut").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2.0)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self.cut:
                data = src.recv(65536)
                if not data or self.cut:
                    break
                dst.sendall(data)
        except OSError:
            pass
        _shut(src)
        _shut(dst)

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            with self._lock:
                for s in self._open:
                    _shut(s)
                self._open = []

    def close(self) -> None:
        self._closed = True
        self.set_cut(True)
        self._server.close()


def _shut(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()
