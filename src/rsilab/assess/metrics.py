"""Aggregate metrics over task outcomes: accuracy with 95 % intervals, per family and difficulty."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from rsilab.intervals import Rate, wilson
from rsilab.records import Assessment, TaskOutcome

__all__ = ["Rate", "accuracy", "by_group", "summary", "wilson"]


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
        "correct": assessment.correct,
        "tokens": assessment.usage.tokens,
        "calls": assessment.usage.calls,
        "wall_seconds": round(assessment.wall_seconds, 3),
        "cpu_seconds": round(assessment.cpu_seconds, 3),
    }
