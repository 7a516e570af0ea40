"""The broker's wire format: OpenAI's chat-completions request and response shapes, and its errors."""

from __future__ import annotations

import time
import uuid
from typing import Any

from rsilab.errors import UntrustedInput
from rsilab.llm.base import ChatMessage, ChatRequest, Completion
from rsilab.untrusted import read_json

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
TASK_HEADER = "X-Rsilab-Task"


class ApiError(Exception):
    """An HTTP error answered in OpenAI's shape: {"error": {"message", "type"}}."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type, message

    def payload(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type}}


def parse_chat(body: bytes) -> ChatRequest:
    def bad(message: str) -> ApiError:
        return ApiError(400, "invalid_request_error", message)

    try:  # bounded like every reader of self-written bytes: depth, number length, UTF-8
        data = read_json(body, what="request body", max_bytes=max(len(body), 1))
    except UntrustedInput as e:
        raise bad(str(e)) from None
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


def openai_response(completion: Completion) -> dict[str, Any]:
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
