"""Trusted usage, cost and budgets over a round and a whole experiment.

A provider wrapper in the harness: every answered call adds its tokens and dollars to
each scope; a call that would start after a scope's budget is spent is refused with
BudgetExceeded, and the refusal is remembered so the experiment can stop cleanly
after the stage in flight (the broker keeps its own, per-candidate budget).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from rsilab.config import ModelPrice, UsageLimit
from rsilab.errors import BudgetExceeded
from rsilab.llm.base import ChatRequest, Completion, Provider
from rsilab.records import Usage

SCOPES = ("round", "experiment")


def dollars(price: ModelPrice, tokens_in: int, tokens_out: int) -> float:
    return (tokens_in * price.dollars_per_million_in + tokens_out * price.dollars_per_million_out) / 1e6


class MeteredProvider:
    def __init__(self, provider: Provider, price: ModelPrice, limits: Mapping[str, UsageLimit]) -> None:
        self.inner = provider
        self.name = provider.name
        self.price = price
        self.limits = {scope: limits.get(scope, UsageLimit()) for scope in SCOPES}
        self._spent = {scope: Usage() for scope in SCOPES}
        self._in_flight = 0
        self._refusal: tuple[str, str] | None = None  # (scope, why) of the first refused call
        self._lock = threading.Lock()

    def complete(self, request: ChatRequest) -> Completion:
        with self._lock:
            for scope in SCOPES:
                if why := self._spent_reason(scope, self._in_flight):
                    self._refusal = self._refusal or (scope, why)
                    raise BudgetExceeded(why)
            self._in_flight += 1
        try:
            completion = self.inner.complete(request)
        finally:
            with self._lock:
                self._in_flight -= 1
        used = Usage(calls=1, tokens_in=completion.tokens_in, tokens_out=completion.tokens_out,
                     dollars=dollars(self.price, completion.tokens_in, completion.tokens_out))
        with self._lock:
            for scope in SCOPES:
                self._spent[scope] += used
        return completion

    # --- for the experiment -----------------------------------------------------------

    def usage(self, scope: str) -> Usage:
        with self._lock:
            return self._spent[scope]

    def preload(self, scope: str, usage: Usage) -> None:
        """Count what earlier runs of this experiment spent (read from the ledger)."""
        with self._lock:
            self._spent[scope] += usage

    def start_round(self, already_spent: Usage | None = None) -> None:
        """A round begins (or resumes, having spent `already_spent` in earlier runs)."""
        with self._lock:
            self._spent["round"] = already_spent or Usage()
            if self._refusal and self._refusal[0] == "round":
                self._refusal = None

    def spent(self, scope: str) -> str | None:
        """Why `scope`'s budget is used up, or None while some is left."""
        with self._lock:
            return self._spent_reason(scope, 0)

    def refused(self) -> tuple[str, str] | None:
        """(scope, why) of the first call refused for want of budget, or None."""
        with self._lock:
            return self._refusal

    def _spent_reason(self, scope: str, in_flight: int) -> str | None:
        limit, spent = self.limits[scope], self._spent[scope]
        if limit.max_calls is not None and spent.calls + in_flight >= limit.max_calls:
            return f"{scope} budget spent: {spent.calls} of {limit.max_calls} calls"
        if limit.max_tokens is not None and spent.tokens >= limit.max_tokens:
            return f"{scope} budget spent: {spent.tokens} of {limit.max_tokens} tokens"
        if limit.max_dollars is not None and spent.dollars >= limit.max_dollars:
            return f"{scope} budget spent: ${spent.dollars:.4f} of ${limit.max_dollars:.4f}"
        return None
