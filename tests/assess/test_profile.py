"""The step profile: trusted cost per step of the self's trace, and how often each step changes the answer."""

from __future__ import annotations

from rsilab.assess.profile import step_profile
from rsilab.records import Assessment, CallCost, TaskOutcome, Usage


def outcome(i: int, trace: list, calls: list[tuple[int, int, float]], expected: str = "5") -> TaskOutcome:
    costs = tuple(CallCost(tokens_in=a, tokens_out=b, seconds=s) for a, b, s in calls)
    answers = [s["answer"] for s in trace if isinstance(s, dict) and "answer" in s]
    return TaskOutcome(task_id=f"t{i}", family="word", difficulty=1, question=f"q{i}", expected=expected,
                       answer=str(answers[-1]) if answers else None, correct=bool(answers) and str(answers[-1]) == expected,
                       usage=Usage(calls=len(costs)), calls=costs, trace=trace)


def assessment(*outcomes: TaskOutcome) -> Assessment:
    return Assessment(version="v1", split="dev", seed=0, outcomes=outcomes, usage=Usage(), wall_seconds=1, cpu_seconds=1)


def solve_trace(first: str, checked: str) -> list:
    return [{"step": "model", "llm": 1, "output": "..."}, {"step": "extract", "answer": first},
            {"step": "verify", "llm": 1, "answer": checked}]


def test_each_marked_step_gets_its_own_broker_counted_call_and_answer_changes_are_counted():
    found = step_profile(assessment(
        outcome(0, solve_trace("5", "5"), [(100, 20, 1.0), (150, 30, 2.0)]),
        outcome(1, solve_trace("4", "5"), [(100, 20, 1.0), (150, 30, 2.0)]),   # verify fixed it
        outcome(2, solve_trace("5", "6"), [(100, 20, 1.0), (150, 30, 2.0)]),   # verify broke it
        outcome(3, solve_trace("7", "7"), [(100, 20, 1.0), (150, 30, 2.0)]),
    ))
    by_step = {s["step"]: s for s in found}
    assert [s["step"] for s in found] == ["verify", "model", "extract"]  # costliest first
    assert by_step["verify"] == {"step": "verify", "ran": 4, "calls": 4, "tokens": 720, "seconds": 8.0,
                                 "changed": 2, "fixed": 1, "broke": 1}
    assert by_step["model"]["tokens"] == 480 and by_step["model"]["changed"] == 0
    assert by_step["extract"]["calls"] == 0 and by_step["extract"]["changed"] == 0


def test_calls_no_step_claims_are_reported_apart_and_junk_trace_entries_are_ignored():
    found = step_profile(assessment(outcome(0, ["free text", {"step": "model", "llm": 1}], [(10, 5, 0.5), (10, 5, 0.5)])))
    assert found[-1] == {"step": "(calls no step claimed)", "ran": 0, "calls": 1, "tokens": 15, "seconds": 0.5,
                         "changed": 0, "fixed": 0, "broke": 0}
    assert found[0]["step"] == "model" and found[0]["calls"] == 1
