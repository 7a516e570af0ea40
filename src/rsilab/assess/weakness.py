"""The weakness report: where the self falls short, worst first, with failing examples and traces.

Groups (family × difficulty) are ranked by the shortfall we can be sure of: one minus
the upper end of the group's 95 % interval. So a group that failed often outranks one
that missed a single task by bad luck, and a group with no failures never leads.
Failing examples are taken in turns from the ranked groups, so the worst few groups
each show at least one, with the self's own trace of what it did, step by step.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import chain, zip_longest
from typing import Any

from rsilab.assess.metrics import GroupMetrics, group_metrics
from rsilab.assess.profile import step_profile
from rsilab.records import Assessment, TaskOutcome


def weakness_report(assessment: Assessment, max_examples: int) -> dict[str, Any]:
    """Groups ranked by shortfall, and up to `max_examples` failing examples with traces.

    Built from the dev split for the proposer (its targets may be shown), or for a person.
    """
    ranked = sorted(group_metrics(assessment), key=_shortfall_first)
    groups = [
        {
            "family": g.family,
            "difficulty": g.difficulty,
            "accuracy": round(g.accuracy.value, 4),
            "low": round(g.accuracy.low, 4),
            "high": round(g.accuracy.high, 4),
            "shortfall": round(1 - g.accuracy.high, 4),
            "n": g.accuracy.n,
            "failures": g.accuracy.n - g.accuracy.correct,
            "calls": g.calls,
            "tokens": g.tokens,
            "self_reported_steps": None if g.steps is None else round(g.steps, 2),
        }
        for g in ranked
    ]
    return {
        "version": assessment.version,
        "accuracy": round(assessment.accuracy, 4) if assessment.n else 0.0,
        "groups": groups,
        "failures": [_example(o) for o in _in_turns(assessment, groups)[:max_examples]],
        "steps": step_profile(assessment),
        "run_error": assessment.run_error,
    }


def _shortfall_first(group: GroupMetrics) -> tuple[float, float, int, str, int]:
    """Lowest upper bound first (the surest shortfall), then lower accuracy, then more failures."""
    rate = group.accuracy
    return (rate.high, rate.value, rate.correct - rate.n, group.family, group.difficulty)


def _in_turns(assessment: Assessment, ranked: list[dict[str, Any]]) -> list[TaskOutcome]:
    """Failing outcomes: the first of each ranked group, then the second of each, and so on."""
    failing: dict[tuple[str, int], list[TaskOutcome]] = defaultdict(list)
    for outcome in assessment.outcomes:
        if not outcome.correct:
            failing[(outcome.family, outcome.difficulty)].append(outcome)
    columns = [failing[(g["family"], g["difficulty"])] for g in ranked]
    return [o for o in chain.from_iterable(zip_longest(*columns)) if o is not None]


def _example(outcome: TaskOutcome) -> dict[str, Any]:
    return {
        "family": outcome.family,
        "difficulty": outcome.difficulty,
        "question": outcome.question,
        "expected": outcome.expected,
        "answer": outcome.answer,
        "error": outcome.error,
        "trace": outcome.trace,
        "calls": outcome.usage.calls,
        "tokens": outcome.usage.tokens,
        "self_reported_steps": outcome.self_reported_steps,
    }
