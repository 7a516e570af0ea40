"""The agent template's own code, run for real: in the process sandbox, its model behind the broker."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_runs import TEMPLATE, Recorded, payload, run_agent, template_tree

from rsilab.sandbox.selfrun import SelfRun

WORD_PROBLEM = {"id": "t1", "question": "Ada has 2 apples and buys 3 more. How many apples does she have?"}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ag-", dir="/tmp"))  # a Unix socket path must stay short
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent(short_dir: Path):  # noqa: ANN201 - returns the runner below
    def run(command: str, data: dict[str, Any], rules: list[dict[str, Any]], **settings: Any) -> tuple[SelfRun, Recorded]:
        model = Recorded(rules)
        result = run_agent(short_dir, template_tree(**settings), command, payload(data), model)
        assert result.problem is None, result.result.stderr
        return result, model

    return run


def answer_of(run: SelfRun) -> dict[str, Any]:
    return json.loads(run.output)["answers"][0]


def test_verification_asks_the_model_a_second_time_and_its_answer_is_final(agent):
    rules = [{"match": "Proposed answer: 4\\.", "responses": ["2 + 3 is 5, not 4. \\boxed{5}"]},
             {"match": ".", "responses": ["\\boxed{4}"]}]
    run, model = agent("solve", {"tasks": [WORD_PROBLEM]}, rules)
    answer = answer_of(run)
    assert answer["answer"] == "5"
    assert [step["step"] for step in answer["trace"]] == ["model", "extract", "verify"]
    assert run.usage.calls == 2 and [c["task"] for c in run.broker_calls] == ["t1", "t1"]
    assert WORD_PROBLEM["question"] in model.requests[1].messages[-1].content


def test_a_check_that_gives_no_boxed_answer_keeps_the_first_answer(agent):
    rules = [{"match": "Proposed answer", "responses": ["Yes, that is right: 2 and 3 more."]},
             {"match": ".", "responses": ["\\boxed{5}"]}]
    run, _ = agent("solve", {"tasks": [WORD_PROBLEM]}, rules)
    assert answer_of(run)["answer"] == "5" and run.usage.calls == 2


def test_with_verification_off_each_problem_costs_one_model_call(agent):
    rules = [{"match": ".", "responses": ["\\boxed{4}"]}]
    run, _ = agent("solve", {"tasks": [WORD_PROBLEM]}, rules, verify=False)
    assert answer_of(run)["answer"] == "4"
    assert run.usage.calls == 1


def test_self_consistency_samples_k_answers_at_a_temperature_and_keeps_the_majority(agent):
    rules = [{"match": ".", "responses": ["\\boxed{7}", "I think \\boxed{5}", "so \\boxed{7}"]}]
    run, model = agent("solve", {"tasks": [WORD_PROBLEM]}, rules, samples=3, verify=False)
    answer = answer_of(run)
    assert answer["answer"] == "7"
    assert [s["output"] for s in answer["trace"] if s["step"] == "extract"] == ["7", "5", "7"]
    assert run.usage.calls == 3 and all(r.temperature > 0 for r in model.requests)


def test_python_tool_runs_the_models_program_and_answers_with_what_it_prints(agent):
    rules = [{"match": ".", "responses": ["```python\nprint(sum(range(10)))\n```"]}]
    run, model = agent("solve", {"tasks": [WORD_PROBLEM]}, rules, use_python=True, verify=False)
    answer = answer_of(run)
    assert answer["answer"] == "45"
    assert {"step": "python", "output": "45"} in answer["trace"]
    assert "```python" in model.requests[0].messages[0].content  # the model was told it may write code


def test_python_tool_stops_a_runaway_program_and_falls_back_to_the_models_answer(agent):
    rules = [{"match": ".", "responses": ["```python\nwhile True:\n    pass\n```\nso \\boxed{3}"]}]
    run, _ = agent("solve", {"tasks": [WORD_PROBLEM]}, rules, use_python=True, python_timeout=1, verify=False)
    answer = answer_of(run)
    assert answer["answer"] == "3"
    assert {"step": "python", "error": "timed out after 1 s"} in answer["trace"]
    assert run.result.wall_seconds < 30


def test_python_tool_is_off_by_default_and_model_code_is_never_run(agent):
    rules = [{"match": ".", "responses": ["```python\nprint(6 * 7)\n```"]}]
    run, model = agent("solve", {"tasks": [WORD_PROBLEM]}, rules, verify=False)
    answer = answer_of(run)
    assert answer["answer"] == "7"  # the last number of the reply's text: the program did not run
    assert not any(s["step"] == "python" for s in answer["trace"])
    assert "```python" not in model.requests[0].messages[0].content


WEAKNESS = {
    "version": "v3", "accuracy": 0.5, "run_error": None,
    "groups": [{"family": "arithmetic", "difficulty": 2, "accuracy": 0.5, "n": 2, "failures": 1}],
    "failures": [{"family": "arithmetic", "difficulty": 2, "question": "Compute 3 - 4 * 2", "expected": "-5",
                  "answer": "-2", "error": None,
                  "trace": [{"step": "calculator", "input": "3 - 4 * 2", "output": -2}]}],
}
HISTORY = [
    {"version": "v2", "rationale": "use the parameter.", "outcome": "rejected at gate edit-hygiene", "comment": "",
     "errors": ["search text in block 1 (starting `total = 0`) not found in tools.py; it matches line 13 if "
                "indentation is ignored — copy the exact indentation"]},
    {"version": "v3", "rationale": "cache answers.", "outcome": "rejected", "comment": "no hard-coding, please",
     "errors": []},
]


def test_improver_sends_its_own_source_the_failures_and_past_errors_and_returns_the_models_edits(agent):
    reply = "Rationale: multiply first.\n\ntools.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n"
    run, model = agent("improve", {"weakness": WEAKNESS, "history": HISTORY}, [{"match": ".", "responses": [reply]}])
    assert json.loads(run.output) == {"rationale": "multiply first.", "edits": reply}
    (request,) = model.requests
    system, *example, last = request.messages
    assert system.content == (TEMPLATE / "prompts" / "improve.md").read_text()
    assert [m.role for m in example] == ["user", "assistant"] and "<<<<<<< SEARCH" in example[1].content
    sent = last.content
    for name in ("solve.py", "improve.py", "tools.py", "settings.toml", "prompts/solve.md", "prompts/improve.md"):
        assert f"File {name}:\n{(TEMPLATE / name).read_text()}" in sent
    assert "File llm.py" not in sent and "File main.py" not in sent and "File alignment.toml" not in sent
    assert "Failure: Compute 3 - 4 * 2 expected -5, answered -2" in sent and '"input": "3 - 4 * 2"' in sent
    assert "copy the exact indentation" in sent  # the harness's error on v2's edits reaches the model
    assert "Reviewer: no hard-coding, please" in sent


def test_improvers_prompt_offers_both_edit_formats_the_harness_accepts():
    prompt = (TEMPLATE / "prompts" / "improve.md").read_text()
    assert "<<<<<<< SEARCH" in prompt and ">>>>>>> REPLACE" in prompt
    assert "unified diff" in prompt and "--- a/" in prompt and "@@" in prompt


def test_own_source_the_improver_sends_fits_a_small_models_context():
    sent = sum(len(data) for path, data in template_tree().items()
               if path not in {"llm.py", "main.py", "alignment.toml"})
    assert sent < 8_000  # about 2,000 tokens, leaving room in a 4k context for failures and the reply
