"""A provider that answers from a script of canned responses: deterministic, offline.

For tests and demos. A script is a list of rules, tried in order:

    [[rule]]
    match = "What is 2 \\+ 2"
    responses = ["4", "still 4"]

The first rule whose regex matches the request (all message contents joined) answers
with its next response; once they run out it keeps giving its last one.
"""

from __future__ import annotations

import json
import re
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rsilab.errors import ConfigError, ProviderError
from rsilab.llm.base import ChatRequest, Completion


class ScriptedProvider:
    name = "scripted"

    def __init__(self, rules: Iterable[Mapping[str, Any]]) -> None:
        self._rules: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
        for i, rule in enumerate(rules):
            match, responses = rule.get("match"), rule.get("responses")
            if not isinstance(match, str):
                raise ConfigError(f"scripted rule {i}: 'match' must be a regex string")
            if not (isinstance(responses, list | tuple) and responses and all(isinstance(r, str) for r in responses)):
                raise ConfigError(f"scripted rule {i}: 'responses' must be a non-empty list of strings")
            try:
                pattern = re.compile(match, re.S)
            except re.error as e:
                raise ConfigError(f"scripted rule {i}: bad regex {match!r}: {e}") from e
            self._rules.append((pattern, tuple(responses)))
        self._used = [0] * len(self._rules)  # responses given so far, per rule
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedProvider:
        """Load rules from TOML (`[[rule]]` tables) or JSON (a list, or {"rule": [...]})."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            data: Any = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (OSError, ValueError) as e:  # TOMLDecodeError and JSONDecodeError are ValueErrors
            raise ConfigError(f"cannot read scripted responses from {path}: {e}") from e
        rules = data.get("rule", data.get("rules")) if isinstance(data, dict) else data
        if not isinstance(rules, list):
            raise ConfigError(f"{path}: expected a list of rules ([[rule]] in TOML, a list in JSON)")
        return cls(rules)

    def complete(self, request: ChatRequest) -> Completion:
        text = "".join(m.content for m in request.messages)
        for i, (pattern, responses) in enumerate(self._rules):
            if pattern.search(text):
                with self._lock:
                    response = responses[min(self._used[i], len(responses) - 1)]
                    self._used[i] += 1
                return Completion(
                    text=response,
                    tokens_in=sum(len(m.content.split()) for m in request.messages),
                    tokens_out=len(response.split()),
                    model=self.name,
                )
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        raise ProviderError(f"no scripted rule matches the request; last user message starts {last_user[:80]!r}")
