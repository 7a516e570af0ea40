"""Build the configured provider. Providers with heavy dependencies are imported lazily.

    cassette (record or replay)  →  retries and a concurrency limit  →  the provider

In replay mode only the cassette is made: no provider, no key, no network, no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rsilab.config import LLMConfig
from rsilab.llm.base import Provider

if TYPE_CHECKING:
    from rsilab.llm.claude import AnthropicProvider
    from rsilab.llm.openai_compat import OpenAICompatibleProvider


def make_provider(config: LLMConfig) -> Provider:
    if config.cassette is not None and config.cassette_mode == "replay":
        from rsilab.llm.cassette import ReplayingProvider

        return ReplayingProvider(config.cassette)

    from rsilab.llm.guard import GuardedProvider

    provider: Provider = GuardedProvider(
        _base_provider(config),
        max_retries=config.max_retries,
        backoff_seconds=config.retry_backoff_seconds,
        max_concurrency=config.max_concurrency,
    )
    if config.cassette is not None:
        from rsilab.llm.cassette import RecordingProvider

        provider = RecordingProvider(provider, config.cassette)
    return provider


def model_name(config: LLMConfig) -> str:
    """The model the configuration names, with each provider's default filled in."""
    if config.model:
        return config.model
    if config.provider == "embedded":
        from rsilab.llm.weights import QWEN_CODER_1_5B

        return config.model_path.stem if config.model_path else QWEN_CODER_1_5B.name
    return config.provider  # scripted


def _base_provider(config: LLMConfig) -> Provider:
    if config.provider == "scripted":
        from rsilab.llm.scripted import ScriptedProvider

        if config.script is not None:
            return ScriptedProvider.from_file(config.script)
        return ScriptedProvider([{"match": r.match, "responses": list(r.responses)} for r in config.rules])
    if config.provider == "embedded":
        from rsilab.llm.embedded import EmbeddedProvider

        return EmbeddedProvider(model_path=config.model_path, threads=config.threads, context_tokens=config.context_tokens,
                                default_max_tokens=config.default_max_tokens)
    remote: type[OpenAICompatibleProvider] | type[AnthropicProvider]
    if config.provider == "openai-compatible":
        from rsilab.llm.openai_compat import OpenAICompatibleProvider as remote
    elif config.provider == "anthropic":
        from rsilab.llm.claude import AnthropicProvider as remote
    else:
        raise AssertionError(f"unhandled provider {config.provider!r}")  # config validation lists the allowed ones
    assert config.model is not None  # config validation requires it for remote providers
    return remote(config.model, base_url=config.base_url, api_key_env=config.api_key_env,
                  timeout_seconds=config.timeout_seconds, default_max_tokens=config.default_max_tokens)
