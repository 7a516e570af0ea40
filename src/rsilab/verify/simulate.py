"""Monte Carlo check of the benchmark gate's error rates, using the gate's own decision code."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rsilab.config import BenchmarkGateConfig
from rsilab.verify.gates import accepts, stage_is_futile


@dataclass(frozen=True)
class GateSimulation:
    accept_rate: float
    mean_tasks: float  # per candidate, counting both stages
    trials: int


def simulate_gate(
    rule: BenchmarkGateConfig, *, n: int, parent_accuracy: float, candidate_accuracy: float,
    agreement: float = 0.5, trials: int = 2000, seed: int = 0,
) -> GateSimulation:
    """Accept rate of the (staged) gate for a candidate of known true accuracy.

    Outcomes are paired: with probability `agreement` the candidate answers a task as the
    parent did (same skill), otherwise independently. With equal
    accuracies, marginals match, so the accept rate is the false-accept rate.
    """
    if not 0 <= agreement < 1:
        raise ValueError("agreement must be in [0, 1)")
    # Accuracy on the tasks where the candidate answers independently, so that its overall
    # (marginal) accuracy is `candidate_accuracy`.
    own = (candidate_accuracy - agreement * parent_accuracy) / (1 - agreement)
    if not 0 <= own <= 1:
        raise ValueError(f"candidate accuracy {candidate_accuracy} is unreachable with agreement {agreement}")
    rng = random.Random(seed)
    cut = max(1, round(n * rule.first_stage_fraction)) if rule.staged and rule.first_stage_fraction < 1 else n
    accepted = tasks_used = 0
    for _ in range(trials):
        parent = [rng.random() < parent_accuracy for _ in range(n)]
        candidate = [p if rng.random() < agreement else rng.random() < own for p in parent]
        if cut < n and stage_is_futile(parent[:cut], candidate[:cut], rule):
            tasks_used += cut
            continue
        tasks_used += n
        accepted += accepts(parent, candidate, rule, cheaper=True)
    return GateSimulation(accept_rate=accepted / trials, mean_tasks=tasks_used / trials, trials=trials)
