"""Helpers for tests that run the agent template's own code for real (sandbox, broker, model)."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w

from rsilab.llm.base import ChatRequest, Completion
from rsilab.llm.scripted import ScriptedProvider
from rsilab.sandbox.broker import Broker
from rsilab.sandbox.process import Limits, ProcessSandbox
from rsilab.sandbox.selfrun import SelfRun, run_self

TEMPLATE = resources.files("rsilab") / "templates" / "agent"
IMPROVER = "You improve an AI agent"  # the first words of the improver's system prompt


class Recorded:
    """A provider that remembers every request the self sent through the broker; `inner` answers."""

    name = "scripted"

    def __init__(self, inner: Any) -> None:
        self.inner = ScriptedProvider(inner) if isinstance(inner, list) else inner
        self.requests: list[ChatRequest] = []

    def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        return self.inner.complete(request)

    def improve_requests(self) -> list[str]:
        """What each improver run asked the model: its last user message."""
        return [r.messages[-1].content for r in self.requests if IMPROVER in r.messages[0].content]


def template_tree(**settings: Any) -> dict[str, bytes]:
    """The template's files, with `settings` written over its settings.toml."""
    tree = {path: (TEMPLATE / path).read_bytes() for path in
            ("main.py", "solve.py", "improve.py", "tools.py", "llm.py", "settings.toml", "alignment.toml")}
    for prompt in (TEMPLATE / "prompts").iterdir():
        tree[f"prompts/{prompt.name}"] = prompt.read_bytes()
    if settings:
        tree["settings.toml"] = tomli_w.dumps({**tomllib.loads(tree["settings.toml"].decode()), **settings}).encode()
    return tree


def run_agent(workdir: Path, tree: dict[str, bytes], command: str, payload: bytes, model: Recorded) -> SelfRun:
    """One sandboxed run of `main.py COMMAND`; `workdir` must be a short path (it holds a Unix socket)."""
    with Broker(model, workdir / "llm.sock") as broker:
        return run_self(tree, command, payload, sandbox=ProcessSandbox(), broker=broker,
                        limits=Limits(wall_seconds=60), scratch_root=workdir / "scratch")


def payload(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()
