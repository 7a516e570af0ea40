"""The weights gates on paired held-out outcomes: non-regression on the original range, gain at the target."""

from __future__ import annotations

from rsilab.records import Assessment, TaskOutcome, Usage
from rsilab.weights import gates
from rsilab.weights.frontier import by_length, frontier


def _assessment(version: str, correct_by_length: dict[int, list[bool]]) -> Assessment:
    outcomes = tuple(
        TaskOutcome(task_id=f"t{length}-{i}", family="addition", difficulty=length, question="1+1", expected="2",
                    answer="2" if ok else "3", correct=ok)
        for length, row in correct_by_length.items() for i, ok in enumerate(row)
    )
    return Assessment(version=version, split="heldout", seed=0, outcomes=outcomes, usage=Usage(), wall_seconds=0, cpu_seconds=0)


def test_frontier_is_the_shortest_length_below_threshold_or_past_the_last_assessed():
    assert frontier({1: 1.0, 2: 0.97, 3: 0.9, 4: 0.99}, 0.95) == 3
    assert frontier({1: 1.0, 2: 0.97}, 0.95) == 3
    parent = _assessment("v1", {1: [True] * 10, 2: [True] * 9 + [False]})
    assert by_length(parent) == {1: 1.0, 2: 0.9}


def test_original_range_gate_rejects_a_drop_beyond_the_margin_and_accepts_within_it():
    parent = _assessment("v1", {1: [True] * 100, 2: [True] * 100})
    small_drop = _assessment("v2", {1: [True] * 100, 2: [True] * 98 + [False] * 2})
    big_drop = _assessment("v3", {1: [True] * 90 + [False] * 10, 2: [True] * 100})
    assert gates.original_range(parent, small_drop, digits=2, margin=0.02, threshold=0.95).passed
    rejected = gates.original_range(parent, big_drop, digits=2, margin=0.02, threshold=0.95)
    assert not rejected.passed and rejected.evidence["candidate_accuracy"] == 0.95


def test_original_range_gate_rejects_a_length_falling_below_threshold_even_within_the_margin():
    parent = _assessment("v1", {n: [True] * 100 for n in range(1, 6)})
    one_length_slips = _assessment("v2", {1: [True] * 92 + [False] * 8, **{n: [True] * 100 for n in range(2, 6)}})
    gate = gates.original_range(parent, one_length_slips, digits=5, margin=0.02, threshold=0.95)
    assert not gate.passed and gate.evidence["fell_below_threshold"] == {"1": 0.92}


def test_targeted_length_gate_needs_a_significant_paired_gain_at_that_length():
    parent = _assessment("v1", {1: [True] * 50, 6: [True] * 30 + [False] * 20})
    better = _assessment("v2", {1: [True] * 50, 6: [True] * 45 + [False] * 5})
    same = _assessment("v3", {1: [True] * 50, 6: [True] * 31 + [False] * 19})
    gain = gates.targeted_length(parent, better, target=6, alpha=0.05)
    assert gain.passed and gain.evidence["candidate_only"] == 15
    assert not gates.targeted_length(parent, same, target=6, alpha=0.05).passed
    assert not gates.targeted_length(parent, better, target=1, alpha=0.05).passed  # no gain where it was perfect
