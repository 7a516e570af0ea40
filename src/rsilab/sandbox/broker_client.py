"""The harness side of the broker's socket: raw requests and chat calls (tests, health checks, benches)."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsilab.errors import RsilabError
from rsilab.sandbox.broker_api import CHAT_PATH, TASK_HEADER


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
