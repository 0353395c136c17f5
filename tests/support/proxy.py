"""A TCP proxy a test can cut and restore, for database outages."""

from __future__ import annotations

import contextlib
import socket
import threading

from sqlalchemy.engine import make_url

OUTAGE_ENV = {"CSV_IMPORT_BATCH_SIZE": "1", "CSV_IMPORT_BUSY_TIMEOUT": "0.5"}


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``hold``, ``cut`` and ``restore`` it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(
            target=self._accept, args=(listener,), name="proxy-accept", daemon=True
        ).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if listener is not self._listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(src, dst), name="proxy-pump", daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()  # held: the bytes wait here, the peer waits for them
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._sockets) // 2

    def hold(self) -> None:
        """Stop forwarding: whatever statement is in flight now hangs."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again what was held."""
        self._flowing.set()

    def cut(self) -> None:
        """Close every connection and the listener: new connections are refused."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets = list(self._sockets)
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress
            listener.close()
        for s in sockets:
            self._close(s)
        self._flowing.set()  # held pumps wake, find their sockets closed and end

    def restore(self) -> None:
        """Listen again on the same port."""
        with self._lock:
            assert self._listener is None, "restore() without cut()"
        self._listen()

    def close(self) -> None:
        if self._listener is not None:
            self.cut()

    def url(self, database_url: str) -> str:
        """``database_url`` with host and port replaced by this proxy."""
        return (
            make_url(database_url)
            .set(host="127.0.0.1", port=self.port)
            .render_as_string(hide_password=False)
        )
