"""HTTP over a Unix socket for the broker: bounded request reading, JSON answers, nothing else."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from rsilab.errors import SandboxError
from rsilab.sandbox.broker_api import CHAT_PATH, MODELS_PATH, TASK_HEADER, ApiError

log = logging.getLogger("rsilab.sandbox.broker")


class ChatEndpoint(Protocol):
    """What the HTTP layer serves: the broker's logic, without its plumbing."""

    max_request_bytes: int
    max_connections: int

    def models(self) -> dict[str, Any]: ...

    def chat(self, body: bytes, task: str | None) -> dict[str, Any]: ...

    def record_refusal(self, task: str | None, error: str, seconds: float) -> None: ...


def remove_stale_socket(path: Path) -> None:
    if not (path.exists() or path.is_symlink()):
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise SandboxError(f"cannot start the LLM broker: {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: left over from a broker that died
        return
    finally:
        probe.close()
    raise SandboxError(f"cannot start the LLM broker: another process is serving on {path}")


# --- HTTP over a Unix socket -------------------------------------------------------------

class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # a hung provider call must not block stop()
    request_queue_size = 128  # the default backlog of 5 makes concurrent clients' connect() fail with EAGAIN

    def __init__(self, path: Path, broker: ChatEndpoint) -> None:
        self.broker = broker
        # One thread per connection, but never more than this: a self that opens thousands of
        # connections gets 503s, not thousands of harness threads.
        self._slots = threading.BoundedSemaphore(broker.max_connections)
        super().__init__(str(path), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        limit = self.broker.max_connections
        error = ApiError(503, "too_many_connections", f"the broker serves at most {limit} connections at once")
        body = json.dumps(error.payload()).encode()
        head = f"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        try:
            request.setblocking(False)  # a fresh socket's buffer holds this; never wait on the client
            request.sendall(head.encode() + body)
            # Read a little of what the client is sending, so it gets our answer rather than a broken
            # pipe; bounded in time and bytes, as this runs on the accepting thread.
            request.settimeout(0.05)
            for _ in range(16):
                if not request.recv(65536):
                    break
        except OSError:
            pass
        self.broker.record_refusal(None, f"503 too_many_connections: over {limit}", 0.0)
        self.shutdown_request(request)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, _ = self.socket.accept()
        # A Unix peer's address is '' but BaseHTTPRequestHandler formats client_address[0].
        return conn, ("unix", 0)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("LLM broker: error while handling a request")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: UnixHTTPServer
    server_version = "rsilab-broker/1"
    sys_version = ""
    timeout = 60  # seconds a client may stall mid-request before its thread gives up

    def do_GET(self) -> None:
        if self.path.split("?")[0] == MODELS_PATH:
            self._send(200, self.server.broker.models())
        else:
            self._send_error(ApiError(404, "not_found", f"no such endpoint: GET {self.path}"))

    def do_POST(self) -> None:
        if self.path.split("?")[0] != CHAT_PATH:
            # Read the body first: closing on a client that is still sending gives it a
            # broken pipe instead of our 404.
            self._discard_declared_body()
            self._send_error(ApiError(404, "not_found", f"no such endpoint: POST {self.path}"))
            return
        broker = self.server.broker
        task = (self.headers.get(TASK_HEADER) or "").strip()[:200] or None
        started = time.monotonic()
        try:
            self._send(200, broker.chat(self._read_body(), task))
        except ApiError as e:
            broker.record_refusal(task, f"{e.status} {e.type}: {e.message}", time.monotonic() - started)
            self._send_error(e)
        except Exception:
            log.exception("LLM broker: unexpected error")
            self._send_error(ApiError(500, "internal_error", "the broker failed; see the harness log"))

    def _read_body(self) -> bytes:
        limit = self.server.broker.max_request_bytes
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "invalid_request_error", "chunked bodies are not supported; send Content-Length")
        raw = self.headers.get("Content-Length")
        if raw is None:
            raise ApiError(411, "invalid_request_error", "Content-Length is required")
        try:
            length = int(raw)
        except ValueError:
            raise ApiError(400, "invalid_request_error", f"bad Content-Length: {raw!r}") from None
        if length < 0:
            raise ApiError(400, "invalid_request_error", f"bad Content-Length: {raw!r}")
        if length > limit:
            self._discard(length)
            raise ApiError(413, "request_too_large", f"request body is {length} bytes; the limit is {limit}")
        try:
            body = self.rfile.read(length)
        except OSError as e:
            raise ApiError(408, "invalid_request_error", f"could not read the request body: {e}") from None
        if len(body) != length:
            raise ApiError(400, "invalid_request_error", "request body is shorter than its Content-Length")
        return body

    def _discard_declared_body(self) -> None:
        raw = self.headers.get("Content-Length") or "0"
        if raw.isdigit():
            self._discard(int(raw))

    def _discard(self, length: int) -> None:
        # Drain (a bounded amount of) an oversize body so a client that is still sending
        # reads our 413 instead of a broken pipe.
        left = min(length, 16 * 1024 * 1024)
        try:
            while left > 0 and (chunk := self.rfile.read(min(left, 64 * 1024))):
                left -= len(chunk)
        except OSError:
            pass

    def _send_error(self, e: ApiError) -> None:
        self._send(e.status, e.payload())

    def _send(self, status: int, payload: Mapping[str, Any]) -> None:
        body = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client went away (e.g. its sandbox was killed); nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("LLM broker: " + format, *args)


# --- harness-side client (tests, health checks) ---------------------------------------------
