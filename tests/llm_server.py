"""A real HTTP server on 127.0.0.1 that speaks the OpenAI and Anthropic chat APIs.

Tests (and bench/llm_concurrency.py) point the official SDKs at it. Answers come from
a Provider; faults are queued per request: `fail(status, times)` answers with an error
in the API's own shape, `stall(seconds, times)` holds the answer back (for timeouts).
It keeps every request it got and the most calls it had in flight at once.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from rsilab.llm.base import ChatMessage, ChatRequest, Provider

ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
                         429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


@dataclass
class Fault:
    status: int | None = None  # answer with this error status
    stall: float = 0.0  # seconds to wait before answering
    retry_after: float | None = None
    message: str | None = None  # the error's text (default: "scripted fault <status>")


class ChatServer:
    def __init__(self, provider: Provider, *, latency: float = 0.0, api_key: str | None = None) -> None:
        self.provider = provider
        self.latency = latency  # every answer waits this long: a fixed-latency server for the bench
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.chat = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, status: int, times: int = 1, retry_after: float | None = None, message: str | None = None) -> None:
        self._faults.extend(Fault(status=status, retry_after=retry_after, message=message) for _ in range(times))

    def stall(self, seconds: float, times: int = 1) -> None:
        self._faults.extend(Fault(stall=seconds) for _ in range(times))

    # --- what the handler calls -----------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        anthropic = path == "/v1/messages"
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            fault = self._faults.popleft() if self._faults else Fault()
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            time.sleep(self.latency + fault.stall)
            if self.api_key is not None and self.api_key not in (headers.get("x-api-key"), _bearer(headers)):
                return _error(anthropic, 401, "invalid api key")
            if fault.status is not None:
                extra = {"retry-after": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                status, _, payload = _error(anthropic, fault.status, fault.message or f"scripted fault {fault.status}")
                return status, extra, payload
            request = _anthropic_request(body) if anthropic else _openai_request(body)
            completion = self.provider.complete(request)
            return 200, {}, _anthropic_reply(completion) if anthropic else _openai_reply(completion)
        finally:
            with self._lock:
                self._in_flight -= 1


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't let Nagle hold the second

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path not in ("/v1/chat/completions", "/v1/messages"):
            status, extra, payload = 404, {}, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
        else:
            status, extra, payload = self.server.chat.answer(self.path, headers, body)  # type: ignore[attr-defined]
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test): nobody to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value.removeprefix("Bearer ") if value.startswith("Bearer ") else None


def _error(anthropic: bool, status: int, message: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    if anthropic:
        kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return status, {}, {"type": "error", "error": {"type": kind, "message": message}}
    return status, {}, {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error"}}


def _openai_request(body: dict[str, Any]) -> ChatRequest:
    stop = body.get("stop") or ()
    return ChatRequest(
        messages=tuple(ChatMessage(role=m["role"], content=m["content"]) for m in body["messages"]),
        max_tokens=body.get("max_tokens"), temperature=body.get("temperature") or 0.0,
        stop=(stop,) if isinstance(stop, str) else tuple(stop),
    )


def _anthropic_request(body: dict[str, Any]) -> ChatRequest:
    system = body.get("system")
    messages = [ChatMessage(role="system", content=system)] if system else []
    for m in body["messages"]:
        content = m["content"] if isinstance(m["content"], str) else "".join(b.get("text", "") for b in m["content"])
        messages.append(ChatMessage(role=m["role"], content=content))
    return ChatRequest(messages=tuple(messages), max_tokens=body["max_tokens"], stop=tuple(body.get("stop_sequences") or ()))


def _openai_reply(completion: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()), "model": completion.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                     "finish_reason": completion.finish_reason}],
        "usage": {"prompt_tokens": completion.tokens_in, "completion_tokens": completion.tokens_out,
                  "total_tokens": completion.tokens_in + completion.tokens_out},
    }


def _anthropic_reply(completion: Any) -> dict[str, Any]:
    return {
        "id": "msg_local", "type": "message", "role": "assistant", "model": completion.model,
        "content": [{"type": "text", "text": completion.text}],
        "stop_reason": "max_tokens" if completion.finish_reason == "length" else "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": completion.tokens_in, "output_tokens": completion.tokens_out},
    }
