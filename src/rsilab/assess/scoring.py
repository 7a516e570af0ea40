"""Exact scoring: an answer counts only when it is exactly right (no partial credit).

Most targets are compared after normalising presentation only. A family whose right
answers have several spellings (names in any order, any entailed conclusion) names
its own exact check in `Task.verifier`; that check is right or wrong, never partly.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from rsilab.errors import RsilabError
from rsilab.records import Task

_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


def normalize(answer: str) -> str:
    """Forgive only presentation: surrounding space, a trailing period, thousands commas, case."""
    text = answer.strip().rstrip(".").strip()
    if _NUMBER.match(text.replace(",", "")):
        text = text.replace(",", "").lstrip("+")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return str(int(text)) if re.fullmatch(r"-?\d+", text) else text
    return " ".join(text.split()).lower()


def is_correct(answer: str | None, target: str) -> bool:
    return answer is not None and normalize(answer) == normalize(target)


def score(answer: str | None, task: Task) -> bool:
    """Whether `answer` is exactly right for `task`, by its family's check or by the target."""
    if answer is None:
        return False
    if task.verifier is None:
        return is_correct(answer, task.answer)
    return _verifier(task.verifier)(answer, task)


def _verifier(name: str) -> Callable[[str, Task], bool]:
    # Imported here: a family's check may need a heavy library (reasoning-gym).
    from rsilab.assess.suites import reasoning

    verifiers: dict[str, Callable[[str, Task], bool]] = {reasoning.VERIFIER: reasoning.verify}
    if name not in verifiers:
        raise RsilabError(f"task names an unknown verifier {name!r}; known: {sorted(verifiers)}")
    return verifiers[name]
