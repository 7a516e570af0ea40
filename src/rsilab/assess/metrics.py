"""Aggregate metrics over task outcomes: accuracy with 95 % intervals, per family and difficulty."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from rsilab.records import Assessment, TaskOutcome


class Rate(BaseModel):
    model_config = ConfigDict(frozen=True)
    correct: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else math.nan

    def __str__(self) -> str:
        return f"{self.value:.1%} [{self.low:.0%}, {self.high:.0%}] (n={self.n})"


def wilson(correct: int, n: int, z: float = 1.96) -> Rate:
    """Wilson score interval: honest at small n and at 0 % or 100 %."""
    if n == 0:
        return Rate(correct=0, n=0, low=0.0, high=1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Rate(correct=correct, n=n, low=max(0.0, centre - half), high=min(1.0, centre + half))


def accuracy(assessment: Assessment) -> Rate:
    return wilson(assessment.correct, assessment.n)


def by_group(outcomes: Iterable[TaskOutcome]) -> dict[tuple[str, int], Rate]:
    """(family, difficulty) → accuracy, sorted by family then difficulty."""
    tally: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for outcome in outcomes:
        cell = tally[(outcome.family, outcome.difficulty)]
        cell[0] += outcome.correct
        cell[1] += 1
    return {key: wilson(c, n) for key, (c, n) in sorted(tally.items())}


def summary(assessment: Assessment) -> dict[str, float | int]:
    """The key figures stored in the ledger next to an assessment's artifact."""
    rate = accuracy(assessment)
    return {
        "accuracy": round(rate.value, 4) if assessment.n else 0.0,
        "low": round(rate.low, 4),
        "high": round(rate.high, 4),
        "n": assessment.n,
        "tokens": assessment.usage.tokens,
        "calls": assessment.usage.calls,
        "wall_seconds": round(assessment.wall_seconds, 3),
        "cpu_seconds": round(assessment.cpu_seconds, 3),
    }
