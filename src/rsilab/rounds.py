"""What running a round gives back, shared by the code loop (experiment.py) and the weights loop."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

Report = Callable[[str, str], None]  # (stage, message) → shown to a person


@dataclass(frozen=True)
class RoundResult:
    round: int
    candidate: str | None
    outcome: str  # "deployed", "rolled-back", "rejected", "awaiting-review", "budget-spent"


def round_seed(base: int | None, *parts: object) -> int:
    """A fresh seed from the OS, or, with a configured `base`, one derived from it and `parts`.

    Derived seeds make a run reproducible (the same tasks, the same verdicts) and still give
    every round and split its own draw; the self never sees either kind.
    """
    if base is None:
        return secrets.randbelow(2**31)
    text = ":".join(str(p) for p in (base, *parts))
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 2**31
