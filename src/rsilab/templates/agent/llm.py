"""How the agent talks to its model: through the harness's broker, never directly.

The broker is an OpenAI-compatible chat endpoint on a Unix socket whose path is in
RSILAB_LLM_SOCKET. It holds the API keys and counts every token; there is no network.
"""

import json
import os


def chat(messages: list[dict], *, max_tokens: int = 512, temperature: float = 0.0, task: str | None = None) -> str:
    """Send chat messages ([{"role": ..., "content": ...}]) and return the model's reply text.

    `task` names the problem this call is for, so the harness can attribute the cost.
    """
    path = os.environ.get("RSILAB_LLM_SOCKET")
    if not path:
        raise RuntimeError("RSILAB_LLM_SOCKET is not set: the harness must provide the LLM broker socket")
    body = json.dumps({"messages": messages, "max_tokens": max_tokens, "temperature": temperature})
    headers = {"Content-Type": "application/json"}
    if task is not None:
        headers["X-Rsilab-Task"] = str(task)
    connection = _unix_connection(path)
    try:
        connection.request("POST", "/v1/chat/completions", body=body.encode("utf-8"), headers=headers)
        response = connection.getresponse()
        status, data = response.status, response.read()
    finally:
        connection.close()
    try:
        payload = json.loads(data)
    except ValueError:
        raise RuntimeError(f"LLM broker answered {status} with a body that is not JSON") from None
    if status != 200:
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        raise RuntimeError(f"LLM broker error {status} ({error.get('type')}): {error.get('message')}")
    return payload["choices"][0]["message"]["content"]


def _unix_connection(path: str):
    """HTTP over a Unix socket (http.client only knows TCP); http.client loads on the first call only."""
    import http.client
    import socket

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)  # blocking, so a busy broker queues us instead of refusing
            self.sock.settimeout(self.timeout)

    return UnixConnection("localhost", timeout=600)
