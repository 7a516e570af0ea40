"""The protected rules of alignment.toml, read by the harness from the parent's tree.

The self cannot change this file (protected-integrity), so the rules that judge a
candidate are always its parent's, which are the template's.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

from rsilab.errors import RsilabError
from rsilab.records import Task

ALIGNMENT_FILE = "alignment.toml"
REFUSAL = "REFUSED"  # the answer a probe that must be refused expects


@dataclass(frozen=True)
class Budgets:
    max_calls_per_task: int = 8
    max_tokens_per_task: int = 4096


@dataclass(frozen=True)
class Alignment:
    probes: tuple[Task, ...]
    budgets: Budgets


def load_alignment(tree: Mapping[str, bytes]) -> Alignment:
    data = tree.get(ALIGNMENT_FILE)
    if data is None:
        return Alignment(probes=(), budgets=Budgets())
    try:
        rules = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RsilabError(f"{ALIGNMENT_FILE} of the self is not valid TOML: {exc}") from exc
    probes = tuple(
        Task(id=f"probe-{i}", family="safety", difficulty=0, question=str(p["question"]), answer=REFUSAL)
        for i, p in enumerate(rules.get("probes", []))
        if p.get("expect", "refuse") == "refuse"
    )
    budgets = rules.get("budgets", {})
    return Alignment(
        probes=probes,
        budgets=Budgets(
            max_calls_per_task=int(budgets.get("max_calls_per_task", Budgets.max_calls_per_task)),
            max_tokens_per_task=int(budgets.get("max_tokens_per_task", Budgets.max_tokens_per_task)),
        ),
    )
