"""A local HTTP server on 127.0.0.1 standing in for the data sources (no internet needed).

Used by the download tests and the first-hour tests through the ``server`` fixture of
``conftest.py``.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Server:
    """``routes[path] = (body, declared_length)`` over HTTP, GET and HEAD.

    A declared length above ``len(body)`` makes the server close the connection early (a
    cut-off download). ``requests`` lists the paths of GET requests in order,
    ``head_requests`` those of HEAD requests (a size asked before a download).
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, int]] = {}
        self.requests: list[str] = []
        self.head_requests: list[str] = []
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def _headers(self, log: list[str]) -> bytes | None:
                log.append(self.path)
                if self.path not in routes:
                    self.send_error(404)
                    return None
                body, length = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                return body

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
                self._headers(server.head_requests)

            def do_GET(self) -> None:  # noqa: N802
                body = self._headers(server.requests)
                if body is not None:
                    self.wfile.write(body)
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        server = self
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def serve(self, path: str, body: bytes, declared_length: int | None = None) -> str:
        """Serve ``body`` at ``path``; return its address."""
        self.routes[path] = (body, len(body) if declared_length is None else declared_length)
        return self.base + path


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (an unreachable source)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
