"""Filters for self-labelled data, run by the harness. Selectable in config, applied in order.

- exact: the harness's verifier recomputes the sum (trusted; the only filter that sees truth).
- length: the answer has a plausible length for its operands (unsupervised).
- vote: the self's label agrees with a majority of earlier checkpoints (unsupervised).

Whatever is kept, the label stays the self's own output. The truth is measured here too,
but only for the record (label accuracy before and after filtering), never to relabel.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from rsilab.weights.tasks import exact_sum, length_of

Example = tuple[str, str]  # (question, the self's answer)


def well_formed(examples: Any, limit: int) -> list[Example]:
    """The self's reply is untrusted: keep at most `limit` (sum question, digit answer) pairs."""
    out: list[Example] = []
    for item in examples if isinstance(examples, list) else []:
        if len(out) >= limit:
            break
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            question, answer = item
            if exact_sum(question) is not None and answer.isdigit() and len(answer) <= 256:
                out.append((question, answer))
    return out


def keep(example: Example, name: str, votes: Sequence[str]) -> bool:
    question, answer = example
    if name == "exact":
        return exact_sum(question) == answer
    if name == "length":
        longest = length_of(question)
        return len(answer.lstrip("0") or "0") in {longest, longest + 1} or (longest == 1 and len(answer) == 1)
    if name == "vote":
        agreeing = 1 + sum(v == answer for v in votes)  # the self's own label counts as one voter
        return agreeing * 2 > 1 + len(votes)
    raise ValueError(f"unknown filter {name!r}")


def apply(
    examples: Sequence[Example], names: Sequence[str], votes: Sequence[Sequence[str]] = ()
) -> tuple[list[Example], dict[str, Any]]:
    """Kept examples, and per-length stats: generated, kept, label accuracy before and after."""
    kept: list[Example] = []
    tally: dict[int, dict[str, int]] = defaultdict(lambda: {"generated": 0, "correct": 0, "kept": 0, "kept_correct": 0})
    for i, example in enumerate(examples):
        example_votes = [column[i] for column in votes]
        row = tally[length_of(example[0])]
        right = exact_sum(example[0]) == example[1]
        row["generated"] += 1
        row["correct"] += right
        if all(keep(example, name, example_votes) for name in names):
            kept.append(example)
            row["kept"] += 1
            row["kept_correct"] += right
    by_length = {
        str(length): {
            **row,
            "label_accuracy": round(row["correct"] / row["generated"], 4),
            "kept_label_accuracy": round(row["kept_correct"] / row["kept"], 4) if row["kept"] else None,
        }
        for length, row in sorted(tally.items())
    }
    generated, right = len(examples), sum(r["correct"] for r in tally.values())
    kept_right = sum(r["kept_correct"] for r in tally.values())
    stats = {
        "filters": list(names),
        "generated": generated,
        "kept": len(kept),
        "label_accuracy": round(right / generated, 4) if generated else None,
        "kept_label_accuracy": round(kept_right / len(kept), 4) if kept else None,
        "by_length": by_length,
    }
    return kept, stats
