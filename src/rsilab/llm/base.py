"""The one interface every LLM provider implements."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: str
    content: str


class ChatRequest(BaseModel):
    """A provider-neutral chat completion request (the OpenAI shape, trimmed)."""

    model_config = ConfigDict(frozen=True)
    messages: tuple[ChatMessage, ...]
    max_tokens: int | None = None
    temperature: float = 0.0
    stop: tuple[str, ...] = Field(default_factory=tuple)
    top_p: float | None = None
    # Set by the broker from the seed the harness drew for the run, never by the self: the same
    # request with the same seed gets the same sampled answer (on a given build of the model).
    seed: int | None = None


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    tokens_in: int
    tokens_out: int
    model: str
    finish_reason: str = "stop"


class Provider(Protocol):
    """Turns a chat request into a completion. Implementations must be thread-safe."""

    name: str

    def complete(self, request: ChatRequest) -> Completion: ...
