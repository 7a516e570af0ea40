"""Harness-side addition problems and their exact verifier (trusted: never runs in the sandbox).

A problem of length L adds two L-digit numbers, written in ordinary notation: how the
self writes them down (reversed digits) is its own business.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable

from rsilab.records import Task

FAMILY = "addition"
_QUESTION = re.compile(r"(\d{1,200})\+(\d{1,200})")


def addition(n_per_length: int, seed: int, lengths: Iterable[int]) -> list[Task]:
    """`n_per_length` fresh problems for each length; the same seed gives the same problems."""
    rng = random.Random(seed)
    tasks = []
    for length in lengths:
        for i in range(n_per_length):
            a, b = _number(rng, length), _number(rng, length)
            tasks.append(Task(id=f"add-{seed}-{length}-{i}", family=FAMILY, difficulty=length,
                              question=f"{a}+{b}", answer=str(a + b)))
    return tasks


def mixed_lengths(n: int, seed: int, max_length: int) -> list[tuple[str, str]]:
    """Labelled original-range data (for pretraining and replay).

    The longer operand's length is uniform in 1..max_length (so short sums are not rare);
    the other operand has the same length half the time, else any shorter one.
    """
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        longer = rng.randint(1, max_length)
        other = longer if rng.random() < 0.5 else rng.randint(1, longer)
        a, b = _number(rng, longer), _number(rng, other)
        if rng.random() < 0.5:
            a, b = b, a
        out.append((f"{a}+{b}", str(a + b)))
    return out


def exact_sum(question: str) -> str | None:
    """The true answer to a question the self wrote, or None when it is not a well-formed sum."""
    match = _QUESTION.fullmatch(question)
    if match is None:
        return None
    return str(int(match.group(1)) + int(match.group(2)))


def length_of(question: str) -> int:
    """A problem's difficulty: the digits of its longer operand (0 when malformed)."""
    match = _QUESTION.fullmatch(question)
    return max(len(match.group(1)), len(match.group(2))) if match else 0


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)
