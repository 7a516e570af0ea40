"""Harness-side pieces of the lm-adapters loop: answer extraction, the adapter check, the pinned base."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

from rsilab.weights import lm_base, lm_gates, lm_tasks


def _safetensors(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def test_the_final_answer_is_the_last_boxed_with_balanced_braces():
    assert lm_tasks.boxed("first \\boxed{12} then \\boxed{1{2}3}") == "1{2}3"
    assert lm_tasks.boxed("no box: 42") is None
    assert lm_tasks.boxed("\\boxed{unclosed") is None
    [task] = lm_tasks.problems("addition", 1, seed=3, difficulty=3)
    assert lm_tasks.correct(f"so \\boxed{{{task.answer}}}", task)
    assert not lm_tasks.correct(task.answer, task)  # right number, no box: not an answer
    assert lm_tasks.problems("multiplication", 5, 9, 2) == lm_tasks.problems("multiplication", 5, 9, 2)


def test_only_a_plain_safetensors_file_of_float_tensors_passes_the_adapter_check():
    good = _safetensors({"__metadata__": {"lora": "{}"}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8)
    assert lm_gates.safetensors_problem(good) is None
    assert "not a safetensors file" in lm_gates.safetensors_problem(pickle.dumps({"w": [0.0, 0.0]}))
    assert "cover" in lm_gates.safetensors_problem(good + b"trailing")
    objects = _safetensors({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8)
    assert "not a float tensor" in lm_gates.safetensors_problem(objects)


def test_the_requirements_file_pins_the_same_wheels_as_the_code():
    text = (Path(__file__).parents[2] / "requirements" / "lm-adapters.txt").read_text()
    pinned = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "\n".join(pinned) + "\n" == lm_base.requirements_text()
