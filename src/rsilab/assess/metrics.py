"""Aggregate metrics over task outcomes: accuracy with 95 % intervals, per family and difficulty."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from rsilab.intervals import Rate, wilson
from rsilab.records import Assessment, TaskOutcome

__all__ = ["GroupMetrics", "Rate", "accuracy", "by_group", "efficiency", "group_metrics", "report", "summary", "wilson"]


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


class GroupMetrics(BaseModel):
    """One family at one difficulty: accuracy with its interval, and what it cost."""

    model_config = ConfigDict(frozen=True)
    family: str
    difficulty: int
    accuracy: Rate
    calls: int  # broker-counted calls the self attributed to these tasks
    tokens: int
    steps: float | None  # mean steps the self says it took: shown, never decisive


def group_metrics(assessment: Assessment) -> list[GroupMetrics]:
    """Per (family, difficulty), sorted by family then difficulty."""
    members: dict[tuple[str, int], list[TaskOutcome]] = defaultdict(list)
    for outcome in assessment.outcomes:
        members[(outcome.family, outcome.difficulty)].append(outcome)
    rates = by_group(assessment.outcomes)
    return [
        GroupMetrics(
            family=family,
            difficulty=difficulty,
            accuracy=rates[(family, difficulty)],
            calls=sum(o.usage.calls for o in outcomes),
            tokens=sum(o.usage.tokens for o in outcomes),
            steps=_mean([o.self_reported_steps for o in outcomes if o.self_reported_steps is not None]),
        )
        for (family, difficulty), outcomes in sorted(members.items())
    ]


def efficiency(assessment: Assessment) -> dict[str, float]:
    """Cost per task from trusted accounting: broker-counted calls and tokens, harness-timed seconds."""
    n = max(assessment.n, 1)
    return {
        "calls_per_task": round(assessment.usage.calls / n, 3),
        "tokens_per_task": round(assessment.usage.tokens / n, 1),
        "wall_seconds_per_task": round(assessment.wall_seconds / n, 4),
        "cpu_seconds_per_task": round(assessment.cpu_seconds / n, 4),
        "dollars": round(assessment.usage.dollars, 6),
    }


def report(assessment: Assessment) -> dict[str, Any]:
    """Everything a person or a script wants from one assessment, JSON-ready."""
    return {
        "version": assessment.version,
        "split": assessment.split,
        "summary": summary(assessment),
        "efficiency": efficiency(assessment),
        "groups": [
            {"family": g.family, "difficulty": g.difficulty, "accuracy": round(g.accuracy.value, 4),
             "low": round(g.accuracy.low, 4), "high": round(g.accuracy.high, 4), "correct": g.accuracy.correct,
             "n": g.accuracy.n, "calls": g.calls, "tokens": g.tokens,
             "self_reported_steps": None if g.steps is None else round(g.steps, 2)}
            for g in group_metrics(assessment)
        ],
        "run_error": assessment.run_error,
    }


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None
