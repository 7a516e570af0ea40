"""Any server that speaks OpenAI's chat-completions API: OpenAI, vLLM, SGLang, Ollama, llama.cpp server.

Uses the official `openai` SDK (extra `openai`), imported in the background when the provider is made.
The key is read from the harness's environment, never from a file, and only here.
"""

from __future__ import annotations

import json
import os
from typing import Any

from rsilab.errors import ProviderError
from rsilab.llm.base import ChatRequest, Completion
from rsilab.llm.lazy_sdk import LazySDK
from rsilab.llm.sdk_errors import translate

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


class OpenAICompatibleProvider:
    name = "openai-compatible"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        timeout_seconds: float = 120.0,
        default_max_tokens: int = 1024,
    ) -> None:
        key = os.environ.get(api_key_env or DEFAULT_KEY_ENV)
        if not key:
            if base_url is None or api_key_env is not None:
                raise ProviderError(f"no API key: set {api_key_env or DEFAULT_KEY_ENV} in the environment of the harness")
            key = "not-needed"  # local servers (vLLM, Ollama, llama.cpp) usually take no key, but the SDK wants one
        self.secrets = (key,) if key != "not-needed" else ()  # scrubbed by value from all the broker returns
        self._lazy = LazySDK("openai", "provider 'openai-compatible' needs the openai SDK: pip install 'rsilab[openai]'",
                             lambda sdk: sdk.OpenAI(api_key=key, base_url=base_url, timeout=timeout_seconds, max_retries=0))
        self.model = model
        self.where = base_url or "api.openai.com"
        self.timeout_seconds = timeout_seconds
        self.default_max_tokens = default_max_tokens

    def complete(self, request: ChatRequest) -> Completion:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens or self.default_max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            params["stop"] = list(request.stop)
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.seed is not None:  # honoured by OpenAI (best effort), vLLM, SGLang, llama.cpp server
            params["seed"] = request.seed
        client, sdk = self._lazy.client(), self._lazy.sdk
        try:
            # The SDK's documented raw request: the same client, retries and errors, without the
            # per-call transform of the params and the model objects of the reply (~1 ms a call,
            # which is most of a call to a fast local server).
            raw = client.post("/chat/completions", body=params, cast_to=bytes)
        except sdk.OpenAIError as e:
            raise translate(e, sdk, self.name, self.where, self.timeout_seconds) from e
        text, finish_reason, model, usage = self._read(raw)
        prompt_chars = sum(len(m.content) for m in request.messages)
        return Completion(
            text=text,
            # A server that reports no usage still costs something: estimate ~4 characters a token.
            tokens_in=usage[0] if usage else prompt_chars // 4 + 1,
            tokens_out=usage[1] if usage else len(text) // 4 + 1,
            model=model or self.model,
            finish_reason=finish_reason or "stop",
        )

    def _read(self, raw: bytes) -> tuple[str, str | None, str | None, tuple[int, int] | None]:
        """(text, finish reason, model, (prompt, completion) tokens or None) of a chat-completions reply."""
        try:
            reply = json.loads(raw)
            choice = reply["choices"][0] if reply.get("choices") else None
            if choice is None:
                raise ProviderError(f"{self.name} at {self.where} answered with no choices")
            text = (choice.get("message") or {}).get("content") or ""
            usage = reply.get("usage") or None
            counts = (int(usage["prompt_tokens"]), int(usage["completion_tokens"])) if usage else None
            return str(text), choice.get("finish_reason"), reply.get("model"), counts
        except ProviderError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
            raise ProviderError(f"{self.name} at {self.where} answered with a body that is not a chat completion "
                                f"({type(e).__name__}: {str(e)[:120]}): check `llm.base_url` points at an "
                                "OpenAI-compatible /v1 endpoint") from None
