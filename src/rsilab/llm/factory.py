"""Build the configured provider. Providers with heavy dependencies are imported lazily."""

from __future__ import annotations

from rsilab.config import LLMConfig
from rsilab.llm.base import Provider


def make_provider(config: LLMConfig) -> Provider:
    if config.provider == "scripted":
        from rsilab.llm.scripted import ScriptedProvider

        if config.script is not None:
            return ScriptedProvider.from_file(config.script)
        return ScriptedProvider([{"match": r.match, "responses": list(r.responses)} for r in config.rules])
    raise AssertionError(f"unhandled provider {config.provider!r}")  # config validation lists the allowed ones
