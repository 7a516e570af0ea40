"""Acceptance among many: Holm's step-down and the ranking the confirmation step relies on."""

from __future__ import annotations

from rsilab.records import Assessment, TaskOutcome, Usage
from rsilab.search.acceptance import best_of, holm_passing, holm_threshold, rank


def test_holm_steps_down_and_stops_at_the_first_p_value_over_its_level():
    pvalues = {"a": 0.001, "b": 0.02, "c": 0.03, "d": 0.5}
    # Levels: 0.05/4, 0.05/3, 0.05/2, 0.05/1 — b at 0.02 > 0.0167 stops the procedure.
    assert holm_passing(pvalues, 0.05) == {"a"}
    assert holm_threshold(pvalues, "b", 0.05) == 0.05 / 3
    assert holm_passing({"a": 0.01, "b": 0.02}, 0.05) == {"a", "b"}
    assert holm_passing({"a": 0.04}, 0.05) == {"a"}  # one candidate: the plain test


def assessment(version: str, correct: list[bool], tokens: int) -> Assessment:
    outcomes = tuple(TaskOutcome(task_id=str(i), family="add", difficulty=1, question=f"{i}+1", expected=str(i + 1),
                                 answer=None, correct=c) for i, c in enumerate(correct))
    return Assessment(version=version, split="heldout", seed=0, outcomes=outcomes,
                      usage=Usage(tokens_in=tokens, tokens_out=0, calls=1), wall_seconds=0.0, cpu_seconds=0.0)


def test_rank_orders_by_correct_then_broker_counted_tokens_then_order():
    found = {"v2": assessment("v2", [True, False], 10), "v3": assessment("v3", [True, True], 500),
             "v4": assessment("v4", [True, False], 5), "v5": assessment("v5", [True, False], 5)}
    assert rank(found) == ["v3", "v4", "v5", "v2"]
    assert best_of([[True, False], [True, True]]) == 1
