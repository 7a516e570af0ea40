"""The weakness report ranks by the shortfall we can be sure of, with failing examples and traces."""

from __future__ import annotations

from rsilab.assess.metrics import group_metrics, report, summary
from rsilab.assess.weakness import weakness_report
from rsilab.config import BenchmarkGateConfig
from rsilab.records import Assessment, TaskOutcome, Usage
from rsilab.verify.gates import benchmark


def outcomes(family: str, difficulty: int, right: int, wrong: int, steps: int | None = 2) -> list[TaskOutcome]:
    return [
        TaskOutcome(
            task_id=f"{family}-{difficulty}-{i}", family=family, difficulty=difficulty, question=f"{family} question {i}",
            expected="1", answer="1" if i < right else "2", correct=i < right, usage=Usage(calls=1, tokens_in=10, tokens_out=5),
            trace=[{"step": "model", "output": f"thinking about {family} {i}"}], self_reported_steps=steps,
        )
        for i in range(right + wrong)
    ]


def assessment(*groups: list[TaskOutcome]) -> Assessment:
    every = tuple(o for group in groups for o in group)
    return Assessment(version="v1", split="dev", seed=1, outcomes=every, usage=Usage(calls=len(every), tokens_in=10 * len(every)),
                      wall_seconds=2.0, cpu_seconds=1.0)


def test_a_planted_weak_family_is_ranked_first_ahead_of_a_single_unlucky_miss():
    result = assessment(
        outcomes("syllogism", 1, right=19, wrong=1),
        outcomes("zebra_puzzles", 2, right=4, wrong=16),  # planted: weak
        outcomes("knights_knaves", 1, right=0, wrong=1),  # one miss: weak for all we know, but no evidence
        outcomes("basic_arithmetic", 1, right=20, wrong=0),
    )
    report_ = weakness_report(result, max_examples=4)
    ranked = [(g["family"], g["difficulty"]) for g in report_["groups"]]
    assert ranked[0] == ("zebra_puzzles", 2)
    assert ranked[-1] == ("basic_arithmetic", 1)
    assert report_["groups"][0]["shortfall"] > report_["groups"][1]["shortfall"]


def test_failing_examples_come_in_turns_from_the_ranked_groups_with_their_traces():
    result = assessment(outcomes("zebra_puzzles", 2, right=0, wrong=10), outcomes("syllogism", 1, right=5, wrong=5))
    failures = weakness_report(result, max_examples=3)["failures"]
    assert [f["family"] for f in failures] == ["zebra_puzzles", "syllogism", "zebra_puzzles"]
    assert failures[0]["trace"] == [{"step": "model", "output": "thinking about zebra_puzzles 0"}]
    assert failures[0]["expected"] == "1" and failures[0]["answer"] == "2"


def test_metrics_per_family_and_difficulty_count_calls_tokens_and_show_self_reported_steps():
    result = assessment(outcomes("syllogism", 1, right=3, wrong=1, steps=4), outcomes("syllogism", 2, right=1, wrong=1, steps=None))
    first, second = group_metrics(result)
    assert (first.family, first.difficulty, first.accuracy.correct, first.accuracy.n) == ("syllogism", 1, 3, 4)
    assert (first.calls, first.tokens, first.steps) == (4, 60, 4.0)
    assert second.steps is None
    figures = report(result)
    assert figures["efficiency"]["wall_seconds_per_task"] == round(2.0 / 6, 4)
    assert figures["groups"][0]["low"] < 0.75 < figures["groups"][0]["high"]


def test_self_reported_steps_never_change_a_decision_or_a_summary():
    honest = assessment(outcomes("syllogism", 1, right=10, wrong=10, steps=3))
    boastful = assessment(outcomes("syllogism", 1, right=10, wrong=10, steps=1))
    modest = assessment(outcomes("syllogism", 1, right=10, wrong=10, steps=900))
    assert summary(boastful) == summary(honest)
    rule = BenchmarkGateConfig(rule="noninferior", margin=0.02)
    assert benchmark(honest, boastful, rule).model_dump() == benchmark(honest, modest, rule).model_dump()
