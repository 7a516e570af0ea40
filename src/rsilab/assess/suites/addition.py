"""Multi-digit addition with a digit-length knob: difficulty d adds two d-digit numbers.

Our own generator (reasoning-gym mixes digit lengths within a task); the trainable
self uses `operands` to make its training and test problems at a chosen length.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rsilab.errors import ConfigError
from rsilab.records import Task

FAMILY = "addition"


def operands(rng: random.Random, digits: int) -> tuple[int, int]:
    """Two numbers of exactly `digits` digits each (no leading zero)."""
    if digits < 1:
        raise ConfigError(f"addition difficulty is a digit length and must be at least 1, got {digits}")
    low, high = 10 ** (digits - 1), 10**digits - 1
    return rng.randint(low, high), rng.randint(low, high)


def addition(n: int, seed: int, difficulties: Sequence[int]) -> list[Task]:
    """Task i adds two numbers of difficulties[i % len(difficulties)] digits."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        digits = difficulties[i % len(difficulties)]
        a, b = operands(rng, digits)
        tasks.append(Task(id=f"add-{i}", family=FAMILY, difficulty=digits, question=f"Compute {a} + {b}", answer=str(a + b)))
    return tasks
