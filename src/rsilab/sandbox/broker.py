"""The LLM broker: the self's only way to its model, and the trusted token counter.

The harness serves an OpenAI-compatible chat-completions endpoint on a Unix socket
that is bound into the sandbox. Requests are checked against a budget, forwarded to
the harness's provider (which holds the API keys, so keys never enter the sandbox),
and counted here. These counts, not the self's own reports, are what gates see.

    POST /v1/chat/completions   {messages: [{role, content}], max_tokens?, temperature?, stop?, model?}
    GET  /v1/models

The request's `model` is ignored: the harness, not the self, chooses the model.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rsilab.errors import ProviderError, SandboxError
from rsilab.llm.base import ChatRequest, Completion, Provider
from rsilab.records import Usage
from rsilab.sandbox.broker_api import CHAT_PATH, MODELS_PATH, TASK_HEADER, ApiError, openai_response, parse_chat
from rsilab.sandbox.broker_client import BrokerHTTPError, chat_via_socket, request_via_socket
from rsilab.sandbox.broker_http import UnixHTTPServer, remove_stale_socket
from rsilab.sandbox.scrub import Scrubber, held_secrets, pattern_scrub

__all__ = [  # the broker's public face; the client and wire names are re-exported for callers
    "CHAT_PATH", "MODELS_PATH", "TASK_HEADER", "Broker", "BrokerHTTPError", "Budget", "CallRecord", "Prices",
    "chat_via_socket", "request_via_socket",
]


# With no [llm.budget], a self could still ask one call for a provider's whole context; this bounds it.
DEFAULT_MAX_TOKENS_PER_CALL = 4096
MAX_CONNECTIONS = 32  # concurrent connections served; more are answered 503 at once (no thread each)


@dataclass(frozen=True)
class Budget:
    """Limits on one candidate's LLM use; None means unlimited."""

    max_calls: int | None = None
    max_tokens: int | None = None  # prompt + completion, summed over calls
    max_dollars: float | None = None
    max_tokens_per_call: int | None = None  # the largest completion (`max_tokens`) one call may ask for

    @property
    def per_call_ceiling(self) -> int:
        """The largest `max_tokens` a call may ask for: the configured cap, else a default ceiling."""
        return self.max_tokens_per_call if self.max_tokens_per_call is not None else DEFAULT_MAX_TOKENS_PER_CALL


@dataclass(frozen=True)
class Prices:
    dollars_per_million_in: float = 0.0
    dollars_per_million_out: float = 0.0

    def dollars(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.dollars_per_million_in + tokens_out * self.dollars_per_million_out) / 1e6


@dataclass(frozen=True)
class CallRecord:
    """One request to the chat endpoint, answered or refused."""

    ts: float  # unix time the request arrived
    task: str | None  # from the X-Rsilab-Task header: the self's claim, informative only
    tokens_in: int
    tokens_out: int
    seconds: float
    error: str | None = None
    dollars: float = 0.0


class Broker:
    def __init__(
        self,
        provider: Provider,
        socket_path: Path,
        *,
        budget: Budget = Budget(),
        prices: Prices = Prices(),
        max_request_bytes: int = 1_000_000,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.provider = provider
        self.socket_path = Path(socket_path)
        self.budget = budget
        self.prices = prices
        self.max_request_bytes = max_request_bytes
        self.max_connections = max_connections
        self.scrubber = Scrubber(held_secrets(provider))  # by value: whatever shape the keys have
        self._lock = threading.Lock()  # guards every counter below
        self._usage = Usage()
        self._by_task: dict[str, Usage] = {}
        self._calls: list[CallRecord] = []
        self._in_flight = 0  # admitted calls not yet answered; they count against max_calls
        self._generation = 0  # bumped by reset(), so a call admitted before it isn't counted after it
        self._seed: int | None = None  # the harness's sampling seed for this run (see reset)
        self._seen: dict[str, int] = {}  # how often each request came this run, for its seed
        self._server: UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._made_dir = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise SandboxError("the LLM broker is already started")
        path = self.socket_path
        if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes; leave room for the NUL
            raise SandboxError(f"broker socket path is too long for a Unix socket ({len(str(path))} chars): {path}")
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o755)
            self._made_dir = True
        remove_stale_socket(path)
        self._server = UnixHTTPServer(path, self)
        os.chmod(path, 0o666)  # the sandboxed self may run as another user
        # A short poll interval only makes stop() quick; requests are answered at once anyway.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="rsilab-broker", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        self.socket_path.unlink(missing_ok=True)
        if self._made_dir:
            try:
                self.socket_path.parent.rmdir()
            except OSError:
                pass  # someone else put files there; leave it
            self._made_dir = False

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- accounting ------------------------------------------------------------------

    @property
    def usage(self) -> Usage:
        """Trusted usage of answered calls since start or the last reset()."""
        with self._lock:
            return self._usage

    def usage_for(self, task_id: str) -> Usage:
        """Usage of calls the self attributed to `task_id` (a self-chosen header: informative)."""
        with self._lock:
            return self._by_task.get(task_id, Usage())

    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    def reset(self, seed: int | None = None) -> None:
        """Zero counters and budget spend, e.g. before the next candidate runs.

        `seed` (drawn by the harness) seeds every sampled call of the run: each request gets
        a seed derived from it, the request and how often that request came before, so the
        self cannot choose its seeds, repeated calls still sample afresh, and a replay of the
        run asks the same calls with the same seeds.
        """
        with self._lock:
            self._usage = Usage()
            self._by_task = {}
            self._calls = []
            self._generation += 1
            self._seed, self._seen = seed, {}

    # --- the endpoint's logic (HTTP plumbing is in broker_http) ---------------------------

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.provider.name, "object": "model", "owned_by": "rsilab"}]}

    def chat(self, body: bytes, task: str | None) -> dict[str, Any]:
        """Answer one chat request body, or raise ApiError; successful calls are counted."""
        request = parse_chat(body)
        request, generation = self._admit(request)
        started = time.monotonic()
        try:
            completion = self.provider.complete(request)
        except Exception as e:  # any provider failure is a 502, never a dead server
            with self._lock:
                self._in_flight -= 1
            raise ApiError(502, "provider_error", self.scrubber.text(_provider_failure(self.provider.name, e))) from e
        self._account(task, completion, time.monotonic() - started, generation)
        return self.scrubber.value(openai_response(completion))

    def _admit(self, request: ChatRequest) -> tuple[ChatRequest, int]:
        """Check the budget before anything is spent; reserve a call slot if it allows."""
        b, cap = self.budget, self.budget.per_call_ceiling
        with self._lock:
            spent = self._usage
            refusal = None
            if b.max_calls is not None and spent.calls + self._in_flight >= b.max_calls:
                refusal = f"call budget spent: {b.max_calls} calls"
            elif b.max_tokens is not None and spent.tokens >= b.max_tokens:
                refusal = f"token budget spent: {spent.tokens} of {b.max_tokens} tokens used"
            elif b.max_dollars is not None and spent.dollars >= b.max_dollars:
                refusal = f"dollar budget spent: ${spent.dollars:.4f} of ${b.max_dollars:.4f} used"
            elif request.max_tokens is not None and request.max_tokens > cap:
                refusal = f"max_tokens {request.max_tokens} is over the per-call limit of {cap}"
            if refusal:
                raise ApiError(429, "budget_exceeded", refusal)
            self._in_flight += 1
            generation = self._generation
            seed = self._call_seed(request)
        # Token and dollar budgets are checked on spend so far, so concurrent calls can
        # overshoot them by at most what those calls use; the per-call cap bounds that.
        # A configured cap also fills an unset max_tokens (the provider's own default stays otherwise).
        if request.max_tokens is None and b.max_tokens_per_call is not None:
            request = request.model_copy(update={"max_tokens": cap})
        return request.model_copy(update={"seed": seed}), generation

    def _call_seed(self, request: ChatRequest) -> int | None:
        """The harness's seed for this call (the lock is held), or None for a run without one."""
        if self._seed is None:
            return None
        key = hashlib.sha256(request.model_copy(update={"seed": None}).model_dump_json().encode()).hexdigest()
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        return int(hashlib.sha256(f"{self._seed}:{key}:{count}".encode()).hexdigest()[:8], 16) % 2**31

    def _account(self, task: str | None, completion: Completion, seconds: float, generation: int) -> None:
        dollars = self.prices.dollars(completion.tokens_in, completion.tokens_out)
        used = Usage(calls=1, tokens_in=completion.tokens_in, tokens_out=completion.tokens_out, dollars=dollars)
        with self._lock:
            self._in_flight -= 1
            if generation != self._generation:
                return  # admitted before reset(): it belongs to the previous candidate
            self._usage += used
            if task is not None:
                self._by_task[task] = self._by_task.get(task, Usage()) + used
            self._calls.append(
                CallRecord(time.time() - seconds, task, completion.tokens_in, completion.tokens_out, seconds, None, dollars)
            )

    def record_refusal(self, task: str | None, error: str, seconds: float) -> None:
        with self._lock:
            self._calls.append(CallRecord(time.time() - seconds, task, 0, 0, seconds, error))



def _provider_failure(name: str, e: Exception) -> str:
    """Say which provider failed without echoing anything that may hold a secret."""
    # Our providers write ProviderError messages for people; anything else (an HTTP
    # library's exception, say) may quote headers, so only its type is passed on.
    detail = pattern_scrub(str(e))[:500] if isinstance(e, ProviderError) else type(e).__name__
    return f"provider {name!r} failed: {detail}"
