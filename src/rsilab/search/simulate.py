"""Monte Carlo check of acceptance among many candidates: false accepts and power by rule.

Each trial draws paired held-out outcomes for the deployed version and N candidates (one of
them possibly better), then applies a rule: `naive` (each candidate tested at alpha, the best
passing one wins), `holm` (Holm–Bonferroni over the N p-values) or `confirm` (the best on the
draw is tested alone on a second, independent draw). A false accept is a round that deploys a
candidate no better than the deployed version.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rsilab.search.acceptance import best_of, holm_passing
from rsilab.verify.stats import mcnemar

RULES = ("naive", "holm", "confirm")


@dataclass(frozen=True)
class AcceptanceSimulation:
    rule: str
    candidates: int
    false_accepts: float  # rounds deploying a candidate no better than the deployed version
    power: float  # rounds deploying the better candidate (0 when none is better)
    tasks: float  # held-out tasks answered per round, every version counted


def simulate_acceptance(rule: str, *, candidates: int, n: int = 60, deployed_accuracy: float = 0.6,
                        gain: float = 0.0, agreement: float = 0.5, alpha: float = 0.05,
                        trials: int = 2000, seed: int = 0) -> AcceptanceSimulation:
    """Candidate 0 is `gain` better than the deployed version (0: a null round); the others equal it."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}: one of {', '.join(RULES)}")
    rng = random.Random(seed)
    false = true = tasks = 0
    for _ in range(trials):
        deployed, outcomes = _draw(rng, candidates, n, deployed_accuracy, gain, agreement)
        tasks += n * (candidates + 1)
        pvalues = {i: mcnemar(deployed, o).p_better for i, o in enumerate(outcomes)}
        if rule == "naive":
            passing = [i for i, p in pvalues.items() if p < alpha]
            winner = passing[best_of([outcomes[i] for i in passing])] if passing else None
        elif rule == "holm":
            passing = sorted(holm_passing(pvalues, alpha))
            winner = passing[best_of([outcomes[i] for i in passing])] if passing else None
        else:
            best = best_of(outcomes)
            again, fresh = _draw(rng, candidates, n, deployed_accuracy, gain, agreement)
            tasks += 2 * n
            winner = best if mcnemar(again, fresh[best]).p_better < alpha else None
        if winner is not None:
            better = winner == 0 and gain > 0
            true += better
            false += not better
    return AcceptanceSimulation(rule, candidates, false / trials, true / trials, tasks / trials)


def _draw(rng: random.Random, candidates: int, n: int, base: float, gain: float, agreement: float
          ) -> tuple[list[bool], list[list[bool]]]:
    deployed = [rng.random() < base for _ in range(n)]
    result = []
    for i in range(candidates):
        accuracy = base + (gain if i == 0 else 0.0)
        own = (accuracy - agreement * base) / (1 - agreement)  # so the marginal accuracy is `accuracy`
        result.append([d if rng.random() < agreement else rng.random() < own for d in deployed])
    return deployed, result
