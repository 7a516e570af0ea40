"""A user's JSONL dataset: clear errors naming the line, and a stable dev/held-out split without overlap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rsilab.assess.splits import draw_tasks
from rsilab.assess.suites import jsonl
from rsilab.config import AssessConfig
from rsilab.errors import DatasetError


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = {"question": "Compute 1 + 1", "answer": "2"}


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ('{"question": "Compute 2 + 2", "answer": "4"', "not valid JSON"),
        ('["Compute 2 + 2", "4"]', "a JSON list, not an object"),
        ('{"answer": "4"}', '"question" is missing'),
        ('{"question": "Compute 2 + 2"}', '"answer" is missing'),
        ('{"question": "Compute 2 + 2", "answer": "4", "difficulty": "hard"}', '"difficulty" must be an integer'),
        ('{"question": "Compute 2 + 2", "answer": "4", "family": 7}', '"family" must be a non-empty string'),
    ],
)
def test_a_bad_line_is_reported_with_its_line_number(tmp_path: Path, bad: str, says: str):
    path = write(tmp_path / "tasks.jsonl", [GOOD, "", {"question": "Compute 3 + 3", "answer": 6}, bad, GOOD])
    with pytest.raises(DatasetError) as caught:
        jsonl.load(path)
    message = str(caught.value)
    assert f"{path}:4:" in message and says in message and '"question"' in message


def test_a_question_repeated_with_another_answer_names_both_lines(tmp_path: Path):
    path = write(tmp_path / "tasks.jsonl", [GOOD, {"question": "x?", "answer": "y"}, {**GOOD, "answer": "3"}])
    with pytest.raises(DatasetError, match=r":3: repeats the question of line 1"):
        jsonl.load(path)


def test_fields_are_read_with_defaults_and_numbers_as_text(tmp_path: Path):
    path = write(tmp_path / "tasks.jsonl", [GOOD, {"question": "q", "answer": 7, "family": "f", "difficulty": 3, "note": "ok"}])
    first, second = jsonl.load(path)
    assert (first.family, first.difficulty, first.answer) == ("dataset", 1, "2")
    assert (second.family, second.difficulty, second.answer) == ("f", 3, "7")


def test_dev_and_heldout_never_share_a_question_and_the_split_is_stable_when_lines_are_added_or_moved(tmp_path: Path):
    rows = [{"question": f"Compute {i} + {i}", "answer": str(2 * i), "family": "sums"} for i in range(300)]
    config = AssessConfig(suite="jsonl", dataset=write(tmp_path / "a.jsonl", rows), dev_fraction=0.3)
    dev = {t.question for seed in range(20) for t in draw_tasks(config, "dev", 20, seed)}
    heldout = {t.question for seed in range(20) for t in draw_tasks(config, "heldout", 20, seed)}
    assert dev and heldout and not dev & heldout
    assert draw_tasks(config, "heldout", 20, 7) == draw_tasks(config, "heldout", 20, 7)
    assert draw_tasks(config, "heldout", 20, 7) != draw_tasks(config, "heldout", 20, 8)

    tasks = jsonl.load(config.dataset)
    dev_share = sum(jsonl.split_of(t.question, 0.3) == "dev" for t in tasks) / len(tasks)
    assert 0.2 < dev_share < 0.4
    more = list(reversed(rows)) + [{"question": f"Compute {i} * 2", "answer": str(2 * i)} for i in range(100)]
    reshuffled = AssessConfig(suite="jsonl", dataset=write(tmp_path / "b.jsonl", more), dev_fraction=0.3)
    dev_again = {t.question for seed in range(40) for t in draw_tasks(reshuffled, "dev", 50, seed)}
    assert not dev_again & heldout


def test_an_empty_split_says_how_to_fix_it(tmp_path: Path):
    config = AssessConfig(suite="jsonl", dataset=write(tmp_path / "one.jsonl", [GOOD]), dev_fraction=0.01)
    split = jsonl.split_of(GOOD["question"], 0.01)
    other = "heldout" if split == "dev" else "dev"
    with pytest.raises(DatasetError, match=f"{other} split is empty.*dev_fraction"):
        draw_tasks(config, other, 5, seed=1)
