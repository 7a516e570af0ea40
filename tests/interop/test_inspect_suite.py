"""An Inspect task's dataset as an rsilab suite: a real round assesses it; what rsilab cannot score exactly is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from interop_lab import need

from rsilab.assess.splits import draw_tasks
from rsilab.assess.suites.jsonl import split_of
from rsilab.config import AssessConfig
from rsilab.errors import DatasetError
from rsilab.experiment import Experiment
from rsilab.records import Assessment


def test_a_real_round_assesses_the_inspect_tasks_dataset_split_by_question(inspect_round: Experiment):
    exp = inspect_round
    fraction = exp.config.assess.dev_fraction
    seen: dict[str, set[str]] = {"dev": set(), "heldout": set()}
    for event in exp.events("assessment.recorded"):
        assessment = exp.artifacts.get_record(event.payload["artifact"], Assessment)
        for o in assessment.outcomes:
            assert o.question.startswith(("Compute ", "What is the capital of "))
            if assessment.split in seen:
                assert split_of(o.question, fraction) == assessment.split, o.question
                seen[assessment.split].add(o.question)
            if o.family == "capitals":  # answered by the model through the broker, scored exactly
                assert o.correct and o.usage.calls >= 1 and o.usage.tokens_in > 0
    assert seen["dev"] and seen["heldout"] and not seen["dev"] & seen["heldout"]
    # The demo's precedence fix is measured on the Inspect dataset's held-out questions.
    heldout = {e.payload["version"]: e.payload["summary"] for e in exp.events("assessment.recorded")
               if e.payload["split"] == "heldout"}
    assert heldout["v4"]["accuracy"] == 1.0 > heldout["v1"]["accuracy"]
    assert exp.rows()["v4"].state == "deployed"


MIXED = '''
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ContentImage, ContentText
from inspect_ai.tool import ToolCall


@task
def mixed():
    return Task(dataset=MemoryDataset([
        Sample(input="Compute 1 + 1", target="2", id="fine"),
        Sample(input="Which is even?", choices=["3", "4"], target="B", id="choice"),
        Sample(input=[ChatMessageUser(content=[ContentText(text="What animal is this?"),
                                               ContentImage(image="data:image/png;base64,iVBORw0KGgo=")])],
               target="cat", id="picture"),
        Sample(input=[ChatMessageUser(content="List the files"),
                      ChatMessageAssistant(content="", tool_calls=[ToolCall(id="c1", function="ls", arguments={})])],
               target="a.txt", id="tools"),
        Sample(input="Name a prime below 4", target=["2", "3"], id="two-targets"),
    ]))
'''


def test_samples_rsilab_cannot_score_exactly_are_refused_each_named_with_why(tmp_path: Path):
    need("inspect_ai")
    (tmp_path / "mixed.py").write_text(MIXED)
    config = AssessConfig(suite=f"inspect:{tmp_path / 'mixed.py'}@mixed")
    with pytest.raises(DatasetError) as caught:
        draw_tasks(config, "dev", 5, seed=1)
    lines = str(caught.value).splitlines()
    assert len(lines) == 5, lines
    assert "sample 'choice' is refused: multiple choice (2 choices)" in lines[0]
    assert "sample 'picture' is refused: image content" in lines[1]
    assert "sample 'tools' is refused: tool use" in lines[2]
    assert "sample 'two-targets' is refused: 2 targets" in lines[3]
    assert lines[4].startswith("4 of 5 samples cannot be scored exactly")
    assert "fine" not in str(caught.value)


def test_a_file_with_several_tasks_asks_which_and_a_missing_one_is_named(tmp_path: Path):
    need("inspect_ai")
    (tmp_path / "two.py").write_text(MIXED + "\n\n@task\ndef other():\n    return mixed()\n")
    with pytest.raises(DatasetError, match=r"it has 2 tasks \(mixed, other\): name one"):
        draw_tasks(AssessConfig(suite=f"inspect:{tmp_path / 'two.py'}"), "dev", 5, seed=1)
    with pytest.raises(DatasetError, match="no task 'third' in it; it has mixed, other"):
        draw_tasks(AssessConfig(suite=f"inspect:{tmp_path / 'two.py'}@third"), "dev", 5, seed=1)


def test_a_relative_task_file_is_found_beside_rsilab_toml(tmp_path: Path):
    from rsilab.config import parse_config

    config = parse_config({"assess": {"suite": "inspect:tasks/arith.py@sums"}}, source=tmp_path / "rsilab.toml")
    assert config.assess.suite == f"inspect:{tmp_path / 'tasks' / 'arith.py'}@sums"
