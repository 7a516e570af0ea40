"""The provider on the head node: one Ray actor that holds the provider, its keys and the budgets.

Every broker on the cluster (one per sandboxed run, on whichever node) forwards the self's
calls here, so there is one provider and one set of round and experiment budgets, as on one
machine. The actor is built on the head from the configuration, so a key is read from the
head's environment and never crosses the wire: not in the actor's arguments, not in a call's
answer (scrubbed by value here), not in an error (passed on as its type, or scrubbed).
Answers travel as ("ok", completion) or (kind, message) rather than as exceptions, so that
Ray has no traceback of the provider's to log or ship.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any

from rsilab.config import LLMConfig
from rsilab.errors import BudgetExceeded, ProviderError
from rsilab.llm.base import ChatRequest, Completion
from rsilab.llm.meter import MeteredProvider
from rsilab.records import Usage
from rsilab.sandbox.scrub import Scrubber, held_secrets, pattern_scrub

HEAD_RESOURCE = "node:__internal_head__"  # Ray's own resource of the head node: the actor may run nowhere else
MAX_CONCURRENT_CALLS = 64  # the provider's own guard (llm.max_concurrency) still bounds what reaches it


class ProviderHost:
    """The body of the actor (see `start_provider_actor`); a plain class, so it is testable without Ray."""

    def __init__(self, llm: LLMConfig, shipped: bytes | None, spent_before: dict[str, Any]) -> None:
        self.problem: str | None = None
        self.attempts: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        try:
            if shipped is not None:
                provider = pickle.loads(shipped)
            else:
                from rsilab.llm.factory import make_provider

                provider = make_provider(llm)
        except Exception as exc:  # said once at start, by name; the message may quote a setting, never a key
            self.problem = f"the head could not build the provider: {pattern_scrub(str(exc))[:500] or type(exc).__name__}"
            self.meter = None
            self.scrubber = Scrubber(())
            return
        self.scrubber = Scrubber(held_secrets(provider))
        self.meter = MeteredProvider(provider, llm.price(), {"round": llm.round_budget, "experiment": llm.experiment_budget})
        self.meter.preload("experiment", Usage.model_validate(spent_before))

    def ready(self) -> tuple[str | None, str]:
        """(why the provider cannot serve, or None; its name)."""
        return self.problem, self.meter.name if self.meter is not None else "none"

    def complete(self, request: dict[str, Any]) -> tuple[str, Any]:
        if self.meter is None:
            return "provider", self.problem
        try:
            completion = self.meter.complete(ChatRequest.model_validate(request))
        except BudgetExceeded as exc:
            return "budget", str(exc)
        except ProviderError as exc:  # our providers write these for people: scrubbed, then passed on
            return "provider", self.scrubber.text(pattern_scrub(str(exc)))[:500]
        except Exception as exc:  # anything else may quote headers: its type only
            return "provider", type(exc).__name__
        return "ok", self.scrubber.value(completion.model_dump())

    # ---- the head's view of the budgets (MeteredProvider's interface) -----------------------

    def usage(self, scope: str) -> dict[str, Any]:
        return self.meter.usage(scope).model_dump() if self.meter else Usage().model_dump()

    def preload(self, scope: str, usage: dict[str, Any]) -> None:
        if self.meter:
            self.meter.preload(scope, Usage.model_validate(usage))

    def start_round(self, already_spent: dict[str, Any] | None) -> None:
        if self.meter:
            self.meter.start_round(Usage.model_validate(already_spent) if already_spent is not None else None)

    def spent(self, scope: str) -> str | None:
        return self.meter.spent(scope) if self.meter else None

    def refused(self) -> tuple[str, str] | None:
        return self.meter.refused() if self.meter else None

    # ---- where each try of a run went, to name the nodes when every try failed ----------------

    def attempt(self, key: str, node: str) -> None:
        with self._lock:
            self.attempts.setdefault(key, []).append(node)

    def attempts_of(self, key: str) -> list[str]:
        with self._lock:
            return list(self.attempts.pop(key, []))


def start_provider_actor(ray: Any, llm: LLMConfig, shipped: bytes | None, spent_before: Usage, name: str) -> Any:
    """The actor, on the head node, with no CPU of its own (it only waits on the provider)."""
    actor_class = ray.remote(ProviderHost).options(
        name=name, namespace="rsilab", num_cpus=0, resources={HEAD_RESOURCE: 0.001},
        max_concurrency=MAX_CONCURRENT_CALLS, max_restarts=0)
    return actor_class.remote(llm, shipped, spent_before.model_dump())


def answer(kind: str, value: Any) -> Completion:
    """An actor's answer as a Completion, or the error it stands for."""
    if kind == "ok":
        return Completion.model_validate(value)
    if kind == "budget":
        raise BudgetExceeded(str(value))
    raise ProviderError(str(value))


class HeadMeter:
    """The runtime's meter on a cluster: MeteredProvider's interface, kept by the actor."""

    def __init__(self, ray: Any, actor: Any, name: str) -> None:
        self._ray, self.actor, self.name = ray, actor, name

    def _call(self, method: str, *args: Any) -> Any:
        return self._ray.get(getattr(self.actor, method).remote(*args))

    def complete(self, request: ChatRequest) -> Completion:
        return answer(*self._call("complete", request.model_dump()))

    def usage(self, scope: str) -> Usage:
        return Usage.model_validate(self._call("usage", scope))

    def preload(self, scope: str, usage: Usage) -> None:
        self._call("preload", scope, usage.model_dump())

    def start_round(self, already_spent: Usage | None = None) -> None:
        self._call("start_round", already_spent.model_dump() if already_spent is not None else None)

    def spent(self, scope: str) -> str | None:
        result: str | None = self._call("spent", scope)
        return result

    def refused(self) -> tuple[str, str] | None:
        found = self._call("refused")
        return tuple(found) if found else None  # type: ignore[return-value]


class ActorProvider:
    """A worker broker's provider: every call goes to the head's actor; it holds no key (`secrets` is empty)."""

    secrets: tuple[str, ...] = ()

    def __init__(self, actor: Any, name: str) -> None:
        self.actor, self.name = actor, name

    def complete(self, request: ChatRequest) -> Completion:
        import ray

        return answer(*ray.get(self.actor.complete.remote(request.model_dump())))
