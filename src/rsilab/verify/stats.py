"""Paired statistics for comparing a candidate with its parent on the same tasks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


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
    return McNemar(parent_only, candidate_only, binomial_tail(candidate_only, discordant))


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly: integer sums, one rounding at the end (no scipy to import)."""
    if n == 0 or k <= 0:
        return 1.0
    return min(1.0, sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n)


def paired_bootstrap_interval(
    differences: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of paired differences with a percentile bootstrap interval."""
    n = len(differences)
    if n == 0:
        return 0.0, 0.0, 0.0
    import numpy as np  # lazy: the CLI's read-only commands never compare

    values = np.asarray(differences, dtype=float)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))  # every resample at once
    means = np.sort(values[picks].mean(axis=1))
    tail = (1 - confidence) / 2
    low = float(means[int(tail * resamples)])
    high = float(means[min(resamples - 1, int((1 - tail) * resamples))])
    return float(values.mean()), low, high
