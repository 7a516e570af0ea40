"""The weakness report: where the self falls short, worst first, with failing examples and traces."""

from __future__ import annotations

from typing import Any

from rsilab.assess.metrics import by_group
from rsilab.records import Assessment


def weakness_report(assessment: Assessment, max_examples: int) -> dict[str, Any]:
    """Groups ranked by shortfall (failures, then lower accuracy), and failing dev examples.

    Only ever built from the dev split: its targets may be shown to the proposer.
    """
    groups = [
        {
            "family": family,
            "difficulty": difficulty,
            "accuracy": round(rate.value, 4),
            "n": rate.n,
            "failures": rate.n - rate.correct,
        }
        for (family, difficulty), rate in by_group(assessment.outcomes).items()
    ]
    groups.sort(key=lambda g: (-g["failures"], g["accuracy"], g["family"], g["difficulty"]))
    ranked = {(g["family"], g["difficulty"]): rank for rank, g in enumerate(groups)}
    failing = sorted(
        (o for o in assessment.outcomes if not o.correct),
        key=lambda o: ranked[(o.family, o.difficulty)],
    )
    examples = [
        {
            "family": o.family,
            "difficulty": o.difficulty,
            "question": o.question,
            "expected": o.expected,
            "answer": o.answer,
            "error": o.error,
            "trace": o.trace,
        }
        for o in failing[:max_examples]
    ]
    return {
        "version": assessment.version,
        "accuracy": round(assessment.accuracy, 4) if assessment.n else 0.0,
        "groups": groups,
        "failures": examples,
        "run_error": assessment.run_error,
    }
