"""Parent selection: which archived version a round asks for candidates.

Each rule returns the parent and the figures it decided on, which go into
`round.started`. Random rules draw from a generator seeded by the harness (the
round's `parent_seed`), so a replay picks the same parent.

- deployed: the deployed version (a greedy hill-climb).
- best: the highest lower bound of the 95 % Wilson interval of the held-out score.
- dgm: the Darwin Gödel Machine's rule: weight sigmoid(λ (accuracy − α₀)) / (1 + children).
- thompson: the Huxley-Gödel Machine's rule: a Beta(1 + successes, 1 + failures) draw over
  each version's whole clade (itself and its descendants); the largest draw wins.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from rsilab.intervals import wilson
from rsilab.search.archive import Archive, Entry

DGM_LAMBDA, DGM_MIDPOINT = 10.0, 0.5
FIGURES_SHOWN = 12  # versions whose figures go into the ledger, best first (bounded events)


@dataclass(frozen=True)
class Selection:
    version: str
    rule: str
    reason: str
    figures: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"rule": self.rule, "reason": self.reason, "figures": self.figures}


def select_parent(archive: Archive, rule: str, deployed: str, seed: int) -> Selection:
    pool = archive.scored
    if rule == "deployed" or not pool:
        reason = "the deployed version" if rule == "deployed" else "no version has a held-out score yet: the deployed one"
        return Selection(deployed, rule, reason)
    rng = random.Random(seed)
    if rule == "best":
        scored = [(wilson(e.successes, e.n).low, e) for e in pool]
        key = "lower_bound"
    elif rule == "dgm":
        scored = [(_dgm_weight(e), e) for e in pool]
        key = "weight"
    elif rule == "thompson":
        scored = [(rng.betavariate(1 + s, 1 + n - s), e) for e in pool for s, n in [archive.clade_score(e.version)]]
        key = "draw"
    else:
        raise ValueError(f"unknown parent rule {rule!r}")
    if rule == "dgm":
        chosen = rng.choices([e for _, e in scored], weights=[w for w, _ in scored])[0]
        total = sum(w for w, _ in scored)
        reason = f"drawn with probability {next(w for w, e in scored if e is chosen) / total:.2f}"
    else:
        chosen = max(scored, key=lambda pair: (pair[0], pair[1].version == deployed))[1]
        reason = f"largest {key.replace('_', ' ')}"
    ranked = sorted(scored, key=lambda pair: -pair[0])[:FIGURES_SHOWN]
    figures = [_figures(e, archive, key, value) for value, e in ranked]
    return Selection(chosen.version, rule, reason, figures)


def _dgm_weight(entry: Entry) -> float:
    return (1 / (1 + math.exp(-DGM_LAMBDA * (entry.accuracy - DGM_MIDPOINT)))) / (1 + len(entry.children))


def _figures(entry: Entry, archive: Archive, key: str, value: float) -> dict[str, Any]:
    clade = archive.clade_score(entry.version)
    return {"version": entry.version, "successes": entry.successes, "n": entry.n, "children": len(entry.children),
            "clade": list(clade), key: round(value, 4)}
