"""The agent template's own code, run for real: in the process sandbox, its model behind the broker."""

from __future__ import annotations

import ast
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_runs import TEMPLATE, Recorded, payload, run_agent, template_tree

from rsilab.propose.apply import apply_edits
from rsilab.propose.edits import parse_edits
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
    assert [s["answer"] for s in answer["trace"] if s["step"] == "extract"] == ["7", "5", "7"]
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
                  "trace": [{"step": "calculator", "input": "3 - 4 * 2", "answer": -2}]}],
    "steps": [{"step": "verify", "ran": 10, "calls": 10, "tokens": 4200, "seconds": 31.5, "changed": 1, "fixed": 0, "broke": 1}],
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
    system, last = request.messages
    assert system.content == (TEMPLATE / "prompts" / "improve.md").read_text() and last.role == "user"
    sent = last.content
    # Failures come before the code, and the request ends by asking for the fix.
    assert sent.index("Failure: ") < sent.index("File solve.py") and sent.endswith('"Rationale: what was wrong".')
    for name in ("solve.py", "improve.py", "tools.py", "settings.toml", "prompts/solve.md", "prompts/improve.md"):
        assert f"File {name}:\n{(TEMPLATE / name).read_text()}" in sent
    assert "File llm.py" not in sent and "File main.py" not in sent and "File alignment.toml" not in sent
    assert "Failure: Compute 3 - 4 * 2 expected -5, answered -2" in sent and '"input": "3 - 4 * 2"' in sent
    assert "copy the exact indentation" in sent  # the harness's error on v2's edits reaches the model
    assert "Reviewer: no hard-coding, please" in sent
    # The harness's step profile: what a step costs and how rarely it changes the answer.
    assert "Step verify: ran 10 times, 4200 tokens, 31.5 s; changed the answer 1 times (0 fixed, 1 broke)" in sent


def test_improvers_prompt_offers_both_edit_formats_the_harness_accepts():
    prompt = (TEMPLATE / "prompts" / "improve.md").read_text()
    assert "<<<<<<< SEARCH" in prompt and ">>>>>>> REPLACE" in prompt
    assert "unified diff" in prompt and "--- a/" in prompt and "@@" in prompt


def test_own_source_the_improver_sends_fits_a_small_models_context():
    sent = sum(len(data) for path, data in template_tree().items()
               if path not in {"llm.py", "main.py", "alignment.toml"})
    # About 2,600 tokens: with the failures (~600), the step profile (~150) and a 1,024-token reply
    # it fits the embedded model's 8k context with room for the history of earlier proposals.
    assert sent < 10_500


PRECEDENCE_FIX = '''Rationale: multiply before adding.

```python
import operator

SIGNS = {"+": 1, "-": -1}


def calculate(expression: str) -> int:
    """Evaluate an integer expression with + - * (no brackets): products first."""
    tokens = _TOKEN.findall(expression)
    terms, sign, product = [], 1, int(tokens[0])
    for op, number in zip(tokens[1::2], tokens[2::2]):
        if op == "*":
            product = operator.mul(product, int(number))
        else:
            terms.append(sign * product)
            sign, product = SIGNS[op], int(number)
    return sum(terms) + sign * product
```
'''


def improved_tree(reply: str, agent: Any) -> tuple[dict[str, str], tuple[str, ...]]:
    """Run the template's improver on a scripted `reply`; apply what it returns the way the harness does."""
    run, _ = agent("improve", {"weakness": WEAKNESS, "history": []}, [{"match": ".", "responses": [reply]}])
    parsed = parse_edits(json.loads(run.output)["edits"])
    files = {path: data.decode() for path, data in template_tree().items()}
    return (apply_edits(files, parsed.edits) if not parsed.errors else files), parsed.errors


def test_a_reply_of_whole_functions_becomes_edits_that_replace_them_with_their_helpers(agent):
    files, errors = improved_tree(PRECEDENCE_FIX, agent)
    assert errors == ()
    namespace: dict[str, Any] = {}
    exec(compile(files["tools.py"], "tools.py", "exec"), namespace)  # the candidate's own tools module
    assert namespace["calculate"]("3 - 4 * 2") == -5 and namespace["calculate"]("2 * 3 + 4 * 5") == 26
    assert "def run_python" in files["tools.py"]  # the other function is untouched
    # The new import and helper table land before the replaced function, once.
    assert files["tools.py"].count("SIGNS = ") == 1
    assert files["tools.py"].index("import operator") < files["tools.py"].index("def calculate")


def test_a_reply_that_copies_a_function_unchanged_is_reported_as_a_no_op(agent):
    unchanged = "Rationale: looks fine.\n\n```python\n" + functions_source("tools.py", "calculate") + "\n```\n"
    files, errors = improved_tree(unchanged, agent)
    assert len(errors) == 1 and "no-op edit" in errors[0] and "tools.py" in errors[0]


def test_a_python_block_with_no_known_function_is_left_for_the_harness_to_refuse(agent):
    reply = "Rationale: new idea.\n\n```python\ndef brand_new():\n    return 1\n```\n"
    _, errors = improved_tree(reply, agent)
    assert errors and "no edits found" in errors[0]


def functions_source(path: str, name: str) -> str:
    source = (TEMPLATE / path).read_text()
    node = next(n for n in ast.parse(source).body if getattr(n, "name", None) == name)
    return "\n".join(source.splitlines()[node.lineno - 1:node.end_lineno])
