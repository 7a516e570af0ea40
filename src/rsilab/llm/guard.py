"""Retries with backoff and a concurrency limit, around any provider.

Providers raise TransientProviderError for failures that may pass (timeouts, dropped
connections, 429, 5xx) and ProviderError for the rest; only the first are retried.
The SDKs' own retries are switched off so every provider retries the same way.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from rsilab.errors import ProviderError, TransientProviderError
from rsilab.llm.base import ChatRequest, Completion, Provider

MAX_WAIT_SECONDS = 60.0  # never sleep longer than this between attempts, whatever a server asks


class GuardedProvider:
    def __init__(
        self,
        provider: Provider,
        *,
        max_retries: int = 3,
        backoff_seconds: float = 1.0,
        max_concurrency: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = provider
        self.name = provider.name
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._sleep = sleep
        self._random = random.Random()
        self.retries = 0  # attempts that failed transiently and were tried again, for reports

    def complete(self, request: ChatRequest) -> Completion:
        for attempt in range(self.max_retries + 1):
            try:
                with self._slots:
                    return self.inner.complete(request)
            except TransientProviderError as e:
                if attempt == self.max_retries:
                    tries = "attempt" if attempt == 0 else "attempts"
                    raise ProviderError(f"{e} (gave up after {attempt + 1} {tries})") from e
                self.retries += 1
                self._sleep(self._wait(attempt, e.retry_after))
        raise AssertionError("unreachable: the loop returns or raises")

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (so parallel callers spread out), or what the server asked."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_WAIT_SECONDS)
        return min(self.backoff_seconds * 2**attempt * (0.5 + self._random.random() / 2), MAX_WAIT_SECONDS)
