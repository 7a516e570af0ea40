"""Task suites: procedurally generated problems with exact targets.

Every suite is a function `(n, seed, difficulties) -> list[Task]`; the same seed
always gives the same tasks, and a new seed gives fresh ones (held-out rounds).

Suites by name: `arithmetic` (below; the template's default), `addition` (digit-length
knob), `reasoning` (the reasoning-gym mix), `rg:NAME` (one reasoning-gym family) and
`jsonl` (a user's file, drawn by rsilab.assess.splits) and `inspect:PATH[@TASK]` or
`inspect:MODULE@TASK` (an Inspect task's dataset, rsilab.interop.inspect_suite; extra `inspect`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from rsilab.assess.suites.addition import addition
from rsilab.assess.suites.reasoning import family_suite, reasoning
from rsilab.errors import ConfigError
from rsilab.records import Task

Suite = Callable[[int, int, Sequence[int]], list[Task]]


def arithmetic(n: int, seed: int, difficulties: Sequence[int]) -> list[Task]:
    """Integer expressions over + - *; difficulty d has d + 1 operands of up to d + 1 digits."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        difficulty = difficulties[i % len(difficulties)]
        expression = _expression(rng, difficulty)
        answer = eval(expression, {"__builtins__": {}})  # our own generated string of digits and + - *
        tasks.append(
            Task(
                id=f"arith-{seed}-{i}",
                family="arithmetic",
                difficulty=difficulty,
                question=f"Compute {expression}",
                answer=str(answer),
            )
        )
    return tasks


def _expression(rng: random.Random, difficulty: int) -> str:
    top = 10 ** (difficulty + 1) - 1
    operators = "+-" if difficulty == 1 else "+-*"
    parts = [str(rng.randint(1, top))]
    for _ in range(difficulty):
        parts += [rng.choice(operators), str(rng.randint(1, top))]
    return " ".join(parts)


SUITES: dict[str, Suite] = {"arithmetic": arithmetic, "addition": addition, "reasoning": reasoning}
FAMILY_PREFIX = "rg:"  # `rg:NAME`: one reasoning-gym family
DATASET_SUITE = "jsonl"  # a user's JSONL file (assess.dataset), split by question
INSPECT_PREFIX = "inspect:"  # `inspect:PATH[@TASK]`: an Inspect task's dataset, split by question


def check_name(suite: str) -> str:
    """The suite name if it is one we know, else ConfigError listing the choices."""
    if suite in SUITES or suite == DATASET_SUITE or any(
            suite.startswith(prefix) and len(suite) > len(prefix) for prefix in (FAMILY_PREFIX, INSPECT_PREFIX)):
        return suite
    raise ConfigError(f"unknown task suite {suite!r}: choose one of {', '.join(sorted(SUITES))}, "
                      f"{DATASET_SUITE} (with assess.dataset), {FAMILY_PREFIX}NAME (a reasoning-gym family) "
                      f"or {INSPECT_PREFIX}PATH[@TASK] (an Inspect task's dataset)")


def generate(suite: str, n: int, seed: int, difficulties: Sequence[int]) -> list[Task]:
    if suite.startswith(FAMILY_PREFIX):
        return family_suite(suite.removeprefix(FAMILY_PREFIX))(n, seed, difficulties)
    if suite == DATASET_SUITE or suite.startswith(INSPECT_PREFIX):
        raise ConfigError(f"the {suite} suite draws from a dataset: use rsilab.assess.splits.draw_tasks")
    try:
        make = SUITES[suite]
    except KeyError:
        check_name(suite)
        raise
    return make(n, seed, difficulties)
