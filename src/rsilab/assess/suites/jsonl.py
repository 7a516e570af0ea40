"""A user's own dataset: JSONL, one task per line, split into dev and held-out by its question.

Each line is a JSON object with "question" and "answer" (strings; a numeric answer is
taken as its text) and optionally "family" (default "dataset") and "difficulty" (an
integer, default 1). Other keys are ignored; blank lines are skipped.

The split is a function of the question text alone (its sha256), so it is the same on
every run and machine, no question is ever in both splits, and adding lines to the
file never moves old ones from one split to the other. Each assessment round samples
its tasks from its split with that round's seed.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from rsilab.errors import DatasetError
from rsilab.records import Task

SHAPE = 'each line must be a JSON object like {"question": "...", "answer": "..."} (optional "family", "difficulty")'


def load(path: Path) -> list[Task]:
    """Every task in the file, in file order; a bad line raises DatasetError naming its number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}; point assess.dataset at a UTF-8 JSONL file") from None
    tasks: list[Task] = []
    first_line: dict[str, tuple[int, str]] = {}  # question → (line, answer)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        task = _task(path, number, line)
        if task.question in first_line:
            earlier, answer = first_line[task.question]
            if answer != task.answer:
                raise DatasetError(f"{path}:{number}: repeats the question of line {earlier} with another answer "
                                   f"({task.answer!r}, not {answer!r}); keep one of them")
            continue
        first_line[task.question] = (number, task.answer)
        tasks.append(task)
    if not tasks:
        raise DatasetError(f"{path} holds no tasks: {SHAPE}")
    return tasks


def split_of(question: str, dev_fraction: float) -> str:
    """'dev' or 'heldout', from the question's hash: stable, and never both."""
    bucket = int.from_bytes(hashlib.sha256(question.encode()).digest()[:8], "big") / 2**64
    return "dev" if bucket < dev_fraction else "heldout"


def sample(tasks: Sequence[Task], split: str, n: int, seed: int, dev_fraction: float,
           exclude: Collection[str] = ()) -> list[Task]:
    """Up to n tasks of one split ('smoke' draws from dev), chosen by `seed`."""
    wanted = "heldout" if split == "heldout" else "dev"
    pool = [t for t in tasks if split_of(t.question, dev_fraction) == wanted and t.question not in exclude]
    if not pool:
        raise DatasetError(f"the dataset's {wanted} split is empty ({len(tasks)} tasks, dev_fraction {dev_fraction}): "
                           "add tasks or change assess.dev_fraction")
    return random.Random(seed).sample(pool, min(n, len(pool)))


def _task(path: Path, number: int, line: str) -> Task:
    def bad(problem: str) -> DatasetError:
        return DatasetError(f"{path}:{number}: {problem}; {SHAPE}")

    try:
        data: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise bad(f"a JSON {type(data).__name__}, not an object")
    question, answer = data.get("question"), data.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise bad('"question" is missing or not a non-empty string')
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise bad('"answer" is missing or not a non-empty string')
    family = data.get("family", "dataset")
    if not isinstance(family, str) or not family.strip():
        raise bad('"family" must be a non-empty string')
    difficulty = data.get("difficulty", 1)
    if not isinstance(difficulty, int) or isinstance(difficulty, bool):
        raise bad(f'"difficulty" must be an integer, not {difficulty!r}')
    return Task(id=f"line-{number}", family=family, difficulty=difficulty, question=question, answer=answer)
