"""Confidence intervals for rates: used by assessments, the ledger views and the UI."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict


class Rate(BaseModel):
    model_config = ConfigDict(frozen=True)
    correct: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else math.nan

    def __str__(self) -> str:
        return f"{self.value:.1%} [{self.low:.0%}, {self.high:.0%}] (n={self.n})"


def wilson(correct: int, n: int, z: float = 1.96) -> Rate:
    """Wilson score interval: honest at small n and at 0 % or 100 %."""
    if n == 0:
        return Rate(correct=0, n=0, low=0.0, high=1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Rate(correct=correct, n=n, low=max(0.0, centre - half), high=min(1.0, centre + half))
