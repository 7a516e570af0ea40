"""Honest acceptance among many candidates: the round's false-accept rate stays at alpha.

Testing N candidates against the deployed version at alpha each would accept a useless
one with probability up to 1 − (1 − alpha)^N. Two controls (`search.acceptance`):

- confirm (the default): rank the candidates on the round's held-out draw, keep only the
  best, and test it alone on a *second* fresh draw. The confirmation tasks are independent
  of the choice, so the final test has its nominal level whatever N is; only its winner
  is paid for twice, and power barely falls as N grows.
- holm: test every candidate on the one draw and apply Holm–Bonferroni to their p-values;
  no extra draw, but each test needs p < alpha / N at worst, so power falls with N.

With one candidate both reduce to the plain benchmark gate. bench/search_acceptance.py
prints the family-wise false-accept rate and the power of each for N = 1, 4, 16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rsilab.records import Assessment


def rank(candidates: Mapping[str, Assessment]) -> list[str]:
    """Best first: most correct on the shared tasks, then fewest broker-counted tokens, then earliest."""
    order = list(candidates)
    return sorted(order, key=lambda v: (-candidates[v].correct, candidates[v].usage.tokens, order.index(v)))


def holm_passing(pvalues: Mapping[str, float], alpha: float) -> set[str]:
    """The hypotheses Holm's step-down procedure rejects at family-wise level `alpha`."""
    ordered = sorted(pvalues.items(), key=lambda item: item[1])
    passing: set[str] = set()
    for i, (version, p) in enumerate(ordered):
        if p >= alpha / (len(ordered) - i):
            break
        passing.add(version)
    return passing


def holm_threshold(pvalues: Mapping[str, float], version: str, alpha: float) -> float:
    """The level `version`'s p-value is held to in Holm's procedure (for the gate's summary)."""
    ordered = sorted(pvalues, key=lambda v: pvalues[v])
    return alpha / (len(ordered) - ordered.index(version))


def best_of(correct: Sequence[Sequence[bool]], tokens: Sequence[float] | None = None) -> int:
    """Index of the best candidate by the same rule as `rank`, on bare outcome vectors (for simulations)."""
    tokens = tokens or [0.0] * len(correct)
    return min(range(len(correct)), key=lambda i: (-sum(correct[i]), tokens[i], i))
