"""The staged benchmark gate keeps its stated error rate and saves tasks on hopeless candidates."""

from __future__ import annotations

import pytest

from rsilab.config import BenchmarkGateConfig
from rsilab.verify.simulate import simulate_gate

STAGED = BenchmarkGateConfig(rule="superior", alpha=0.05, staged=True, first_stage_fraction=0.34)


@pytest.mark.parametrize("parent_accuracy", [0.5, 0.8])
def test_false_accept_rate_of_a_null_candidate_stays_within_alpha(parent_accuracy: float):
    sim = simulate_gate(STAGED, n=60, parent_accuracy=parent_accuracy, candidate_accuracy=parent_accuracy,
                        trials=3000, seed=11)
    # 3000 trials: the Monte Carlo standard error at 5 % is 0.4 %; allow two of them.
    assert sim.accept_rate <= STAGED.alpha + 0.008


def test_stage_one_rejects_null_candidates_early_and_saves_tasks():
    sim = simulate_gate(STAGED, n=60, parent_accuracy=0.7, candidate_accuracy=0.7, trials=1000, seed=3)
    assert sim.mean_tasks < 0.8 * 60


def test_a_clearly_better_candidate_is_still_accepted_most_of_the_time():
    sim = simulate_gate(STAGED, n=60, parent_accuracy=0.6, candidate_accuracy=0.8, trials=1000, seed=5)
    assert sim.accept_rate > 0.8


def test_noninferior_rule_rejects_a_clearly_worse_but_cheaper_candidate():
    rule = BenchmarkGateConfig(rule="noninferior", alpha=0.05, margin=0.02, staged=True)
    sim = simulate_gate(rule, n=60, parent_accuracy=0.8, candidate_accuracy=0.5, trials=300, seed=2)
    assert sim.accept_rate < 0.05
