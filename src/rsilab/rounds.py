"""What running a round gives back, shared by the code loop (experiment.py) and the weights loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Report = Callable[[str, str], None]  # (stage, message) → shown to a person


@dataclass(frozen=True)
class RoundResult:
    round: int
    candidate: str | None
    outcome: str  # "deployed", "rolled-back", "rejected", "awaiting-review", "budget-spent"
