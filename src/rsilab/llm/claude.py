"""Claude through Anthropic's Messages API, with the official `anthropic` SDK (extra `anthropic`).

The key comes from the harness's environment only (ANTHROPIC_API_KEY by default), so
it never reaches a file or the sandbox. System messages become the `system` field;
the rest must alternate user/assistant, as the API requires.
"""

from __future__ import annotations

import os
from typing import Any

from rsilab.errors import ProviderError
from rsilab.llm.base import ChatRequest, Completion
from rsilab.llm.lazy_sdk import LazySDK
from rsilab.llm.sdk_errors import translate

DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        timeout_seconds: float = 120.0,
        default_max_tokens: int = 1024,
    ) -> None:
        variable = api_key_env or DEFAULT_KEY_ENV
        key = os.environ.get(variable)
        if not key:
            raise ProviderError(f"no API key: set {variable} in the environment of the harness")
        self.secrets = (key,)  # the broker scrubs these values from all it returns to the self
        self._lazy = LazySDK("anthropic", "provider 'anthropic' needs the anthropic SDK: pip install 'rsilab[anthropic]'",
                             lambda sdk: sdk.Anthropic(api_key=key, base_url=base_url, timeout=timeout_seconds, max_retries=0))
        self.model = model
        self.where = base_url or "api.anthropic.com"
        self.timeout_seconds = timeout_seconds
        self.default_max_tokens = default_max_tokens

    def complete(self, request: ChatRequest) -> Completion:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens or self.default_max_tokens,
            "messages": turns,
        }
        # Current Claude models choose their own sampling and take no seed: sampled Claude calls replay
        # only from a cassette (which keys on the harness's seed), never by asking the model again.
        if system:
            params["system"] = system
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        client, sdk = self._lazy.client(), self._lazy.sdk
        try:
            message = client.messages.create(**params)
        except sdk.AnthropicError as e:
            raise translate(e, sdk, self.name, self.where, self.timeout_seconds) from e
        text = "".join(block.text for block in message.content if getattr(block, "type", None) == "text")
        return Completion(
            text=text,
            tokens_in=message.usage.input_tokens,
            tokens_out=message.usage.output_tokens,
            model=message.model or self.model,
            finish_reason=STOP_REASONS.get(message.stop_reason or "end_turn", message.stop_reason or "stop"),
        )
