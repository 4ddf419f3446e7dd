"""The emulator's HTTP server (stdlib, one thread per connection) and its in-process handle `Emulator`."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from emulator.clock import WallMapping, write_wall_clock_timestamps
from emulator.config import EmulatorConfig
from emulator.control import PREFIX, handle_control
from emulator.faults import FaultRule, JobFailureRule
from emulator.requestlog import RequestRecord
from emulator.routes import Request, Response, handle_api
from emulator.state import EmulatorState
from emulator.token_endpoints import handle_token_request, is_token_path
from emulator.vertex_jobs import DEFAULT_DROP_REASON, DroppedExamplesRule

logger = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        self.state = state
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request (a killed operator, a timeout) is normal here, not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one write, and without Nagle's delay: otherwise every keep-alive request
    # waits ~40 ms for a delayed ACK, which would dominate benchmarks.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request log records what matters, and stderr noise slows benchmarks."""

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(
            http_method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            if parts.path.startswith(PREFIX + "/") or parts.path == PREFIX:
                response = handle_control(self.server.state, request)
            elif is_token_path(parts.path):
                response = handle_token_request(self.server.state, request)
            else:
                response = handle_api(self.server.state, request)
        except Exception:
            logger.exception("emulator handler failed for %s %s", self.command, parts.path)
            response = Response(
                500, b'{"error": {"code": 500, "message": "Internal error.", "status": "INTERNAL"}}'
            )
        self._write(response)

    def _write(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if response.chunks is not None and response.length is not None:
            self.send_header("content-length", str(response.length))
            self.end_headers()
            for chunk in response.chunks:
                self.wfile.write(chunk)
        elif response.chunks is not None:
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for chunk in response.chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("content-length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the connection may have been dropped on purpose
            super().finish()


class Emulator:
    """A running fake of Vertex AI and the Gemini API on loopback.

    >>> with Emulator(EmulatorConfig(time_scale=60)) as emu:
    ...     client = VertexClient(base_url=emu.url)
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or EmulatorConfig()
        self.state = EmulatorState(self.config)
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = _Server(self._address, self.state)
        if self.config.wall_clock_timestamps:
            write_wall_clock_timestamps(WallMapping.of(self.state.clock))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
        if self.config.wall_clock_timestamps:
            write_wall_clock_timestamps(None)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._address[0]}:{self.port}"

    # -- steering --------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by `seconds`."""
        self.state.clock.advance(seconds)

    def set_time_scale(self, scale: float) -> None:
        self.state.clock.set_time_scale(scale)
        self.config.time_scale = scale

    def add_fault(self, kind: str, method: str = "*", **options: Any) -> FaultRule:
        """Add a fault rule (see `FaultRule`).

        Example: `add_fault("status", "tuningJobs.get", status=503, times=1)`.
        """
        return self.state.faults.add(FaultRule(kind=kind, method=method, **options))

    def remove_fault(self, rule_id: str) -> bool:
        return self.state.faults.remove(rule_id)

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def fail_jobs(self, **options: Any) -> JobFailureRule:
        """Make matching new jobs fail partway (see `JobFailureRule`)."""
        return self.state.failures.add(JobFailureRule(**options))

    def fail_job(self, name: str, message: str = JobFailureRule.message, at_step: int | None = None) -> None:
        """Make one existing Vertex job fail at `at_step` (default: its next step)."""
        self.state.vertex.fail_job(name, message, at_step)

    def drop_examples(self, count: int, reason: str | None = None, display_name: str | None = None) -> None:
        """New Vertex jobs (named `display_name`, or all) report `count` examples dropped from their data."""
        rule = DroppedExamplesRule(count, reason or DEFAULT_DROP_REASON, display_name)
        self.state.vertex.dropped_rules.append(rule)

    def hold_job(self, name: str, tuning_job_state: str = "TUNING_JOB_STATE_WAITING_FOR_QUOTA") -> None:
        """Keep a pending Vertex job pending, showing `tuning_job_state` (v1beta1), until `release_job`."""
        self.state.vertex.hold(name, tuning_job_state)

    def release_job(self, name: str) -> None:
        self.state.vertex.release(name)

    def reset(self) -> None:
        self.state.reset()

    # -- Cloud Storage ---------------------------------------------------------------------------------

    def put_object(
        self,
        bucket: str,
        name: str,
        data: bytes | str | None = None,
        *,
        path: Path | None = None,
        content_type: str = "application/jsonl",
    ) -> dict[str, Any]:
        """Store an object (a new generation if it exists) and return its resource, as an upload would."""
        raw = data.encode() if isinstance(data, str) else data
        return self.state.storage.put(bucket, name, raw, path=path, content_type=content_type).resource()

    # -- request log -----------------------------------------------------------------------------------

    def requests(self, method: str | None = None) -> list[RequestRecord]:
        return self.state.log.records(method)

    def count(self, method: str | None = None) -> int:
        return self.state.log.count(method)

    def clear_requests(self) -> None:
        self.state.log.clear()
