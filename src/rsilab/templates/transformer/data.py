"""How the self writes problems down and which new problems it labels to learn from.

Numbers are written least significant digit first ("reversed"), operands and answer
alike, so each answer digit depends on digits the model has just seen and a carry.
Each token also gets a position id: a digit's place in its number (see model.py).
The harness asks and scores in ordinary notation; only this file knows the format.
Part of the self: it may change the format or the strategy.
"""

import random

import torch

from model import END, PAD, VOCAB

_INDEX = {ch: i for i, ch in enumerate(VOCAB)}


def prompt_text(question: str) -> str:
    a, b = question.split("+")
    return f"^{a[::-1]}+{b[::-1]}="


def answer_text(answer: str) -> str:
    return f"{answer[::-1]}$"


def decode_answer(tokens: list[int]) -> str:
    """The model's reversed digits, up to its end mark, back in ordinary order."""
    digits = []
    for token in tokens:
        if token == END:
            break
        digits.append(VOCAB[token] if token < len(VOCAB) else "?")
    return "".join(digits)[::-1]


def encode(text: str) -> list[int]:
    return [_INDEX[ch] for ch in text]


def prompt_positions(question: str) -> list[int]:
    """0 for "^" and "+", each digit's place for the operands, 1 for "=" (which predicts the units)."""
    a, b = question.split("+")
    return [0, *range(1, len(a) + 1), 0, *range(1, len(b) + 1), 1]


def batch(
    examples: list[tuple[str, str]], rng: random.Random | None = None, max_position: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded token ids, position ids, and a mask that is true where the next token is answer.

    With `rng`, every nonzero position id of an example is shifted by one random offset, so
    that all ids up to `max_position` get trained (the abacus trick), not only the first few.
    """
    rows = []
    for q, a in examples:
        prompt, answer = encode(prompt_text(q)), encode(answer_text(a))
        ids = prompt_positions(q) + list(range(2, len(answer) + 2))
        if rng is not None:
            shift = rng.randint(0, max(0, max_position - max(ids)))
            ids = [i + shift if i else 0 for i in ids]
        rows.append((prompt, answer, ids))
    width = max(len(p) + len(a) for p, a, _ in rows)
    tokens = torch.full((len(rows), width), PAD, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (p, a, ids) in enumerate(rows):
        tokens[i, : len(p) + len(a)] = torch.tensor(p + a)
        positions[i, : len(ids)] = torch.tensor(ids)
        mask[i, len(p) - 1 : len(p) + len(a) - 1] = True
    return tokens, positions, mask


def number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)


def problem(rng: random.Random, digits: int) -> str:
    """A problem whose longer operand has `digits` digits; half the time both do."""
    other = digits if rng.random() < 0.5 else rng.randint(1, digits)
    a, b = number(rng, digits), number(rng, other)
    return f"{a}+{b}" if rng.random() < 0.5 else f"{b}+{a}"


def frontier_questions(frontier: int, n: int, settings: dict, seed: int) -> list[str]:
    """New problems to label: at the frontier and just past it, where the self is weak."""
    rng = random.Random(seed)
    lengths = [frontier + k for k in range(settings["lengths_past_frontier"] + 1)]
    return [problem(rng, lengths[i % len(lengths)]) for i in range(n)]
