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
        headers["X-Rsilab-Task"] = " ".join(str(task).split())  # one header line, whatever the id holds
    status, data = _post(path, "/v1/chat/completions", body.encode("utf-8"), headers)
    try:
        payload = json.loads(data)
    except ValueError:
        raise RuntimeError(f"LLM broker answered {status} with a body that is not JSON") from None
    if status != 200:
        error = payload.get("error", {}) if isinstance(payload, dict) else {}
        raise RuntimeError(f"LLM broker error {status} ({error.get('type')}): {error.get('message')}")
    return payload["choices"][0]["message"]["content"]


def _post(path: str, target: str, body: bytes, headers: dict) -> tuple:
    """One HTTP/1.0 POST on the broker's Unix socket: (status, body). The broker closes the
    connection after its answer, so the body is all that follows the headers. A plain socket,
    not http.client, whose imports (email, ssl) cost about a fifth of a short run."""
    import socket

    head = [f"POST {target} HTTP/1.0", "Host: localhost", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)  # blocking, so a busy broker queues us instead of refusing
        sock.settimeout(600)
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    status_line, _, rest = b"".join(chunks).partition(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise RuntimeError(f"LLM broker closed the connection without an HTTP answer ({status_line[:80]!r})")
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]
