"""One prompt to the configured model, measured: the quickest check that a configuration works."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rsilab.config import LLMConfig
from rsilab.llm.base import ChatMessage, ChatRequest, Completion
from rsilab.llm.factory import make_provider, model_name
from rsilab.llm.meter import dollars


@dataclass(frozen=True)
class Answer:
    completion: Completion
    model: str
    seconds: float
    dollars: float

    @property
    def tokens_per_second(self) -> float:
        return self.completion.tokens_out / self.seconds if self.seconds > 0 else 0.0


def ask(config: LLMConfig, prompt: str, *, system: str | None = None, max_tokens: int = 256) -> Answer:
    if config.cassette_mode == "record":
        config = config.model_copy(update={"cassette": None})  # a question by hand is no part of a recorded run
    cap = config.budget.max_tokens_per_call
    messages = ([ChatMessage(role="system", content=system)] if system else []) + [ChatMessage(role="user", content=prompt)]
    request = ChatRequest(messages=tuple(messages), max_tokens=min(max_tokens, cap) if cap else max_tokens)
    provider = make_provider(config)
    started = time.perf_counter()
    completion = provider.complete(request)
    seconds = time.perf_counter() - started
    cost = dollars(config.price(), completion.tokens_in, completion.tokens_out)
    return Answer(completion, model_name(config), seconds, cost)
