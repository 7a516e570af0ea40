"""Exact scoring: an answer counts only when it is exactly right (no partial credit)."""

from __future__ import annotations

import re

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
