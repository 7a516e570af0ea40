"""Any server that speaks OpenAI's chat-completions API: OpenAI, vLLM, SGLang, Ollama, llama.cpp server.

Uses the official `openai` SDK (extra `openai`), imported in the background when the provider is made.
The key is read from the harness's environment, never from a file, and only here.
"""

from __future__ import annotations

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
            response = client.chat.completions.create(**params)
        except sdk.OpenAIError as e:
            raise translate(e, sdk, self.name, self.where, self.timeout_seconds) from e
        if not response.choices:
            raise ProviderError(f"{self.name} at {self.where} answered with no choices")
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = response.usage
        prompt_chars = sum(len(m.content) for m in request.messages)
        return Completion(
            text=text,
            # A server that reports no usage still costs something: estimate ~4 characters a token.
            tokens_in=usage.prompt_tokens if usage else prompt_chars // 4 + 1,
            tokens_out=usage.completion_tokens if usage else len(text) // 4 + 1,
            model=response.model or self.model,
            finish_reason=choice.finish_reason or "stop",
        )
