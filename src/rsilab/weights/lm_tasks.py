"""Harness-side problems, answer extraction and exact scoring for the `lm-adapters` loop (trusted).

Families: the project's own `addition` and `multiplication` (difficulty = digits per operand)
and any reasoning-gym family by name (`basic_arithmetic`, `chain_sum`, ...), scored by its own
exact check. The model's final answer is the content of its last `\\boxed{}`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rsilab.assess.scoring import score
from rsilab.records import Assessment, Task, TaskOutcome, Usage

MAX_ANSWER_CHARS = 2000  # of a completion kept for scoring and training


def problems(family: str, n: int, seed: int, difficulty: int) -> list[Task]:
    """`n` fresh problems of one family and difficulty; the same arguments give the same problems."""
    if family in {"addition", "multiplication"}:
        rng = random.Random(f"{family}-{seed}-{difficulty}")
        sign, op = ("+", lambda a, b: a + b) if family == "addition" else ("*", lambda a, b: a * b)
        out = []
        for i in range(n):
            a, b = (rng.randint(10 ** (difficulty - 1), 10**difficulty - 1) for _ in range(2))
            out.append(Task(id=f"{family}-{seed}-{difficulty}-{i}", family=family, difficulty=difficulty,
                            question=f"What is {a} {sign} {b}?", answer=str(op(a, b))))
        return out
    from rsilab.assess.suites.reasoning import family_suite

    made = family_suite(family)(n, seed, [difficulty])
    return [t.model_copy(update={"id": f"{family}-{seed}-{difficulty}-{i}", "family": family}) for i, t in enumerate(made)]


def grid(families: Sequence[str], difficulties: Sequence[int], per_cell: int, seed: int) -> list[Task]:
    return [t for f in families for d in difficulties for t in problems(f, per_cell, seed, d)]


def boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (braces balanced), or None when there is none."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def correct(completion: str | None, task: Task) -> bool:
    answer = boxed(completion) if isinstance(completion, str) else None
    return answer is not None and score(answer.replace(",", ""), task)


def assessment(version: str, tasks: Sequence[Task], completions: Sequence[object] | None, split: str, seed: int,
               wall: float, cpu: float, run_error: str | None) -> Assessment:
    """Score each completion; a missing or non-string one is unanswered."""
    given = list(completions or [])
    outcomes = []
    for i, task in enumerate(tasks):
        text = given[i][:MAX_ANSWER_CHARS] if i < len(given) and isinstance(given[i], str) else None
        answer = None if text is None else (boxed(text) or "")
        outcomes.append(TaskOutcome(
            task_id=task.id, family=task.family, difficulty=task.difficulty, question=task.question,
            expected=task.answer, answer=None if answer is None else answer[:300], correct=correct(text, task),
            error=None if text is not None else "no answer"))
    return Assessment(version=version, split=split, seed=seed, outcomes=tuple(outcomes), usage=Usage(),
                      wall_seconds=wall, cpu_seconds=cpu, run_error=run_error)


def report(result: Assessment) -> dict[str, dict[str, float]]:
    """Accuracy per family and difficulty: the weakness report the self plans from."""
    tally: dict[str, dict[str, list[int]]] = {}
    for o in result.outcomes:
        cell = tally.setdefault(o.family, {}).setdefault(str(o.difficulty), [0, 0])
        cell[0] += o.correct
        cell[1] += 1
    return {f: {d: round(r / n, 4) for d, (r, n) in sorted(by.items())} for f, by in sorted(tally.items())}


def kept_samples(tasks: Sequence[Task], samples: object, k: int) -> tuple[list[tuple[str, str]], int]:
    """(question, completion) for each distinct sampled answer the exact verifier accepts; and how many were sampled."""
    kept: list[tuple[str, str]] = []
    seen = 0
    rows = samples if isinstance(samples, list) else []
    for task, row in zip(tasks, rows):
        texts = [t[:MAX_ANSWER_CHARS] for t in (row if isinstance(row, list) else [])[:k] if isinstance(t, str)]
        seen += len(texts)
        for text in dict.fromkeys(t.strip() for t in texts):
            if correct(text, task):
                kept.append((task.question, text))
    return kept, seen
