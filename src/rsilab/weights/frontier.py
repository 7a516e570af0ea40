"""Scoring a trainable self per digit length, and its frontier (trusted, harness side)."""

from __future__ import annotations

from collections.abc import Sequence

from rsilab.assess.scoring import is_correct
from rsilab.records import Assessment, Task, TaskOutcome, Usage


def score(version: str, tasks: Sequence[Task], answers: Sequence[str] | None, split: str, seed: int,
          wall: float, cpu: float, run_error: str | None) -> Assessment:
    given = list(answers or [])
    outcomes = []
    for i, task in enumerate(tasks):
        answer = given[i] if i < len(given) and isinstance(given[i], str) else None
        outcomes.append(TaskOutcome(
            task_id=task.id, family=task.family, difficulty=task.difficulty, question=task.question,
            expected=task.answer, answer=None if answer is None else answer[:300],
            correct=is_correct(answer, task.answer), error=None if answer is not None else "no answer",
        ))
    return Assessment(version=version, split=split, seed=seed, outcomes=tuple(outcomes), usage=Usage(),
                      wall_seconds=wall, cpu_seconds=cpu, run_error=run_error)


def by_length(assessment: Assessment) -> dict[int, float]:
    tally: dict[int, list[int]] = {}
    for outcome in assessment.outcomes:
        cell = tally.setdefault(outcome.difficulty, [0, 0])
        cell[0] += outcome.correct
        cell[1] += 1
    return {length: right / n for length, (right, n) in sorted(tally.items())}


def frontier(accuracy: dict[int, float], threshold: float) -> int:
    """The shortest length below `threshold`; past the longest assessed one when none is."""
    for length in sorted(accuracy):
        if accuracy[length] < threshold:
            return length
    return max(accuracy, default=0) + 1
