"""The operator's one HTTP port: `/healthz`, `/readyz` and `/metrics`, served from a background thread.

Kubernetes probes and Prometheus scrapes are a few requests a minute, so the standard library's threading
server is plenty and adds no dependency. The probes answer plain text, with the reason when not ready, so
`kubectl describe pod` shows why a replica is held out of rotation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

# () -> (ready, reason when not ready)
ReadinessCheck = Callable[[], tuple[bool, str]]


class HealthServer:
    def __init__(
        self,
        bind_address: str,
        port: int,
        readiness: ReadinessCheck,
        metrics: Callable[[], bytes],
        metrics_content_type: str,
    ) -> None:
        handler = _handler_class(readiness, metrics, metrics_content_type)
        try:
            self._server = ThreadingHTTPServer((bind_address, port), handler)
        except OSError as err:
            raise OSError(
                err.errno,
                f"bind_address/http_port: cannot serve /healthz, /readyz and /metrics on "
                f"{bind_address}:{port}: {err.strerror or err}",
            ) from err
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when 0 was asked for)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="health-http", daemon=True)
        self._thread.start()
        log.info("serving /healthz, /readyz and /metrics", extra={"port": self.port})

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()


def _handler_class(
    readiness: ReadinessCheck, metrics: Callable[[], bytes], metrics_content_type: str
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/healthz", "/livez"):
                self._reply(200, b"ok\n")
            elif path == "/readyz":
                ready, reason = readiness()
                self._reply(200 if ready else 503, b"ok\n" if ready else f"not ready: {reason}\n".encode())
            elif path == "/metrics":
                try:
                    body = metrics()
                except Exception:
                    log.exception("metrics exposition failed")
                    self._reply(500, b"metrics exposition failed\n")
                    return
                self._reply(200, body, metrics_content_type)
            else:
                self._reply(404, b"not found: try /healthz, /readyz or /metrics\n")

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http: " + format, *args)

    return Handler
