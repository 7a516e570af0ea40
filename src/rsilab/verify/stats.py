"""Paired statistics for comparing a candidate with its parent on the same tasks."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import binomtest


@dataclass(frozen=True)
class McNemar:
    parent_only: int  # tasks the parent got right and the candidate wrong
    candidate_only: int  # tasks the candidate got right and the parent wrong
    p_better: float  # one-sided exact p-value for "candidate is more accurate"


def mcnemar(parent: Sequence[bool], candidate: Sequence[bool]) -> McNemar:
    """Exact McNemar test: only discordant pairs carry information."""
    if len(parent) != len(candidate):
        raise ValueError("paired samples must have the same length")
    parent_only = sum(p and not c for p, c in zip(parent, candidate))
    candidate_only = sum(c and not p for p, c in zip(parent, candidate))
    discordant = parent_only + candidate_only
    p = 1.0 if discordant == 0 else binomtest(candidate_only, discordant, 0.5, alternative="greater").pvalue
    return McNemar(parent_only, candidate_only, float(p))


def paired_bootstrap_interval(
    differences: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of paired differences with a percentile bootstrap interval."""
    n = len(differences)
    if n == 0:
        return 0.0, 0.0, 0.0
    rng = random.Random(seed)
    means = sorted(sum(differences[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = means[int(tail * resamples)]
    high = means[min(resamples - 1, int((1 - tail) * resamples))]
    return sum(differences) / n, low, high
