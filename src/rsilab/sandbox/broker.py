"""The LLM broker: the self's only way to its model, and the trusted token counter.

The harness serves an OpenAI-compatible chat-completions endpoint on a Unix socket
that is bound into the sandbox. Requests are checked against a budget, forwarded to
the harness's provider (which holds the API keys, so keys never enter the sandbox),
and counted here. These counts, not the self's own reports, are what gates see.

    POST /v1/chat/completions   {messages: [{role, content}], max_tokens?, temperature?, stop?, model?}
    GET  /v1/models

The request's `model` is ignored: the harness, not the self, chooses the model.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import logging
import os
import re
import socket
import socketserver
import stat
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsilab.errors import ProviderError, RsilabError, SandboxError
from rsilab.llm.base import ChatMessage, ChatRequest, Completion, Provider
from rsilab.records import Usage

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
TASK_HEADER = "X-Rsilab-Task"


@dataclass(frozen=True)
class Budget:
    """Limits on one candidate's LLM use; None means unlimited."""

    max_calls: int | None = None
    max_tokens: int | None = None  # prompt + completion, summed over calls
    max_dollars: float | None = None
    max_tokens_per_call: int | None = None  # the largest completion (`max_tokens`) one call may ask for


@dataclass(frozen=True)
class Prices:
    dollars_per_million_in: float = 0.0
    dollars_per_million_out: float = 0.0

    def dollars(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.dollars_per_million_in + tokens_out * self.dollars_per_million_out) / 1e6


@dataclass(frozen=True)
class CallRecord:
    """One request to the chat endpoint, answered or refused."""

    ts: float  # unix time the request arrived
    task: str | None  # from the X-Rsilab-Task header: the self's claim, informative only
    tokens_in: int
    tokens_out: int
    seconds: float
    error: str | None = None
    dollars: float = 0.0


class Broker:
    def __init__(
        self,
        provider: Provider,
        socket_path: Path,
        *,
        budget: Budget = Budget(),
        prices: Prices = Prices(),
        max_request_bytes: int = 1_000_000,
    ) -> None:
        self.provider = provider
        self.socket_path = Path(socket_path)
        self.budget = budget
        self.prices = prices
        self.max_request_bytes = max_request_bytes
        self._lock = threading.Lock()  # guards every counter below
        self._usage = Usage()
        self._by_task: dict[str, Usage] = {}
        self._calls: list[CallRecord] = []
        self._in_flight = 0  # admitted calls not yet answered; they count against max_calls
        self._generation = 0  # bumped by reset(), so a call admitted before it isn't counted after it
        self._seed: int | None = None  # the harness's sampling seed for this run (see reset)
        self._seen: dict[str, int] = {}  # how often each request came this run, for its seed
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._made_dir = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise SandboxError("the LLM broker is already started")
        path = self.socket_path
        if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes; leave room for the NUL
            raise SandboxError(f"broker socket path is too long for a Unix socket ({len(str(path))} chars): {path}")
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o755)
            self._made_dir = True
        _remove_stale_socket(path)
        self._server = _Server(path, self)
        os.chmod(path, 0o666)  # the sandboxed self may run as another user
        # A short poll interval only makes stop() quick; requests are answered at once anyway.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="rsilab-broker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        self.socket_path.unlink(missing_ok=True)
        if self._made_dir:
            try:
                self.socket_path.parent.rmdir()
            except OSError:
                pass  # someone else put files there; leave it
            self._made_dir = False

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- accounting ------------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        """Trusted usage of answered calls since start or the last reset()."""
        with self._lock:
            return self._usage

    def usage_for(self, task_id: str) -> Usage:
        """Usage of calls the self attributed to `task_id` (a self-chosen header: informative)."""
        with self._lock:
            return self._by_task.get(task_id, Usage())

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    def reset(self, seed: int | None = None) -> None:
        """Zero counters and budget spend, e.g. before the next candidate runs.

        `seed` (drawn by the harness) seeds every sampled call of the run: each request gets
        a seed derived from it, the request and how often that request came before, so the
        self cannot choose its seeds, repeated calls still sample afresh, and a replay of the
        run asks the same calls with the same seeds.
        """
        with self._lock:
            self._usage = Usage()
            self._by_task = {}
            self._calls = []
            self._generation += 1
            self._seed, self._seen = seed, {}

    # --- the endpoint's logic (HTTP plumbing is in _Handler) ---------------------------

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.provider.name, "object": "model", "owned_by": "rsilab"}]}

    def chat(self, body: bytes, task: str | None) -> dict[str, Any]:
        """Answer one chat request body, or raise ApiError; successful calls are counted."""
        request = _parse_chat(body)
        request, generation = self._admit(request)
        started = time.monotonic()
        try:
            completion = self.provider.complete(request)
        except Exception as e:  # any provider failure is a 502, never a dead server
            with self._lock:
                self._in_flight -= 1
            raise ApiError(502, "provider_error", _provider_failure(self.provider.name, e)) from e
        self._account(task, completion, time.monotonic() - started, generation)
        return _openai_response(completion)

    def _admit(self, request: ChatRequest) -> tuple[ChatRequest, int]:
        """Check the budget before anything is spent; reserve a call slot if it allows."""
        b, cap = self.budget, self.budget.max_tokens_per_call
        with self._lock:
            spent = self._usage
            refusal = None
            if b.max_calls is not None and spent.calls + self._in_flight >= b.max_calls:
                refusal = f"call budget spent: {b.max_calls} calls"
            elif b.max_tokens is not None and spent.tokens >= b.max_tokens:
                refusal = f"token budget spent: {spent.tokens} of {b.max_tokens} tokens used"
            elif b.max_dollars is not None and spent.dollars >= b.max_dollars:
                refusal = f"dollar budget spent: ${spent.dollars:.4f} of ${b.max_dollars:.4f} used"
            elif cap is not None and request.max_tokens is not None and request.max_tokens > cap:
                refusal = f"max_tokens {request.max_tokens} is over the per-call limit of {cap}"
            if refusal:
                raise ApiError(429, "budget_exceeded", refusal)
            self._in_flight += 1
            generation = self._generation
            seed = self._call_seed(request)
        # Token and dollar budgets are checked on spend so far, so concurrent calls can
        # overshoot them by at most what those calls use; the per-call cap bounds that.
        if cap is not None and request.max_tokens is None:
            request = request.model_copy(update={"max_tokens": cap})
        return request.model_copy(update={"seed": seed}), generation

    def _call_seed(self, request: ChatRequest) -> int | None:
        """The harness's seed for this call (the lock is held), or None for a run without one."""
        if self._seed is None:
            return None
        key = hashlib.sha256(request.model_copy(update={"seed": None}).model_dump_json().encode()).hexdigest()
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        return int(hashlib.sha256(f"{self._seed}:{key}:{count}".encode()).hexdigest()[:8], 16) % 2**31

    def _account(self, task: str | None, completion: Completion, seconds: float, generation: int) -> None:
        dollars = self.prices.dollars(completion.tokens_in, completion.tokens_out)
        used = Usage(calls=1, tokens_in=completion.tokens_in, tokens_out=completion.tokens_out, dollars=dollars)
        with self._lock:
            self._in_flight -= 1
            if generation != self._generation:
                return  # admitted before reset(): it belongs to the previous candidate
            self._usage += used
            if task is not None:
                self._by_task[task] = self._by_task.get(task, Usage()) + used
            self._calls.append(
                CallRecord(time.time() - seconds, task, completion.tokens_in, completion.tokens_out, seconds, None, dollars)
            )

    def _record_refusal(self, task: str | None, error: str, seconds: float) -> None:
        with self._lock:
            self._calls.append(CallRecord(time.time() - seconds, task, 0, 0, seconds, error))


class ApiError(Exception):
    """An HTTP error answered in OpenAI's shape: {"error": {"message", "type"}}."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type, message

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type}}


def _parse_chat(body: bytes) -> ChatRequest:
    def bad(message: str) -> ApiError:
        return ApiError(400, "invalid_request_error", message)

    try:
        data = json.loads(body)
    except ValueError as e:  # includes bad UTF-8
        raise bad(f"request body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise bad("request body must be a JSON object")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("'messages' must be a non-empty list of {role, content}")
    for i, m in enumerate(messages):
        if not (isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)):
            raise bad(f"messages[{i}] must be an object with string 'role' and 'content'")
    max_tokens = data.get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise bad("'max_tokens' must be a positive integer")
    temperature = data.get("temperature")
    if temperature is not None and (type(temperature) not in (int, float) or not 0 <= temperature <= 2):
        raise bad("'temperature' must be a number from 0 to 2")
    stop = data.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise bad("'stop' must be a string or a list of strings")
    if data.get("stream"):
        raise bad("streaming is not supported by the broker")
    if data.get("n", 1) != 1:
        raise bad("only n=1 is supported")
    return ChatRequest(
        messages=tuple(ChatMessage(role=m["role"], content=m["content"]) for m in messages),
        max_tokens=max_tokens,
        temperature=float(temperature or 0.0),
        stop=tuple(stop or ()),
        top_p=_top_p(data.get("top_p")),
    )  # a `seed` in the body is ignored: the harness seeds each call (Broker.reset)


def _top_p(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) not in (int, float) or not 0 < value <= 1:
        raise ApiError(400, "invalid_request_error", "'top_p' must be a number above 0 and at most 1")
    return float(value)


def _openai_response(completion: Completion) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text},
                "finish_reason": completion.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": completion.tokens_in,
            "completion_tokens": completion.tokens_out,
            "total_tokens": completion.tokens_in + completion.tokens_out,
        },
    }


_SECRETISH = re.compile(r"(?i)\b(sk-[\w-]{6,}|bearer\s+\S+|(api[_-]?key|token|secret)\s*[:=]\s*\S+)")


def _provider_failure(name: str, e: Exception) -> str:
    """Say which provider failed without echoing anything that may hold a secret."""
    # Our providers write ProviderError messages for people; anything else (an HTTP
    # library's exception, say) may quote headers, so only its type is passed on.
    detail = _SECRETISH.sub("[redacted]", str(e))[:500] if isinstance(e, ProviderError) else type(e).__name__
    return f"provider {name!r} failed: {detail}"


def _remove_stale_socket(path: Path) -> None:
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


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # a hung provider call must not block stop()
    request_queue_size = 128  # the default backlog of 5 makes concurrent clients' connect() fail with EAGAIN

    def __init__(self, path: Path, broker: Broker) -> None:
        self.broker = broker
        super().__init__(str(path), _Handler)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        conn, _ = self.socket.accept()
        # A Unix peer's address is '' but BaseHTTPRequestHandler formats client_address[0].
        return conn, ("unix", 0)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("LLM broker: error while handling a request")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
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
            broker._record_refusal(task, f"{e.status} {e.type}: {e.message}", time.monotonic() - started)
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


class BrokerHTTPError(RsilabError):
    """The broker answered with an error status."""

    def __init__(self, status: int, payload: Mapping[str, Any]) -> None:
        error = payload.get("error") if isinstance(payload.get("error"), dict) else {}
        self.status = status
        self.type: str = error.get("type", "")
        self.message: str = error.get("message", json.dumps(payload))
        super().__init__(f"broker answered {status} {self.type}: {self.message}")


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str | Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = str(socket_path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # Connect while blocking: with a timeout set, a full listen queue fails at
            # once with EAGAIN instead of waiting its turn.
            sock.connect(self._socket_path)
            sock.settimeout(self.timeout)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def request_via_socket(
    socket_path: str | Path,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, Any]]:
    """One raw HTTP request to the broker: (status, parsed JSON body)."""
    conn = _UnixHTTPConnection(socket_path, timeout)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def chat_via_socket(
    socket_path: str | Path,
    messages: Sequence[Mapping[str, str]],
    *,
    task: str | None = None,
    timeout: float = 30.0,
    **params: Any,
) -> dict[str, Any]:
    """POST a chat completion; the OpenAI-shaped response, or BrokerHTTPError."""
    body = json.dumps({"messages": list(messages), **params}).encode()
    headers = {TASK_HEADER: task} if task else {}
    status, payload = request_via_socket(socket_path, "POST", CHAT_PATH, body, headers, timeout)
    if status != 200:
        raise BrokerHTTPError(status, payload)
    return payload
