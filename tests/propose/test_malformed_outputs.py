"""Real-looking bad model outputs, through the whole proposal stage: the template's own improver
runs in the sandbox, the model's reply comes back through the broker, the harness parses it
leniently, applies it strictly to the template's files, and says what went wrong."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_runs import Recorded, run_agent, template_tree

from rsilab.propose.stage import propose
from rsilab.records import Proposal


def line_of(path: str, text: str) -> int:
    """The 1-based line where `text` starts in the template's `path` (the messages cite lines)."""
    source = template_tree()[path].decode()
    return source[: source.index(text)].count("\n") + 1


WEAKNESS = {"version": "v1", "accuracy": 0.5, "groups": [], "failures": [], "run_error": None}


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mo-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def proposal_from(reply: str, workdir: Path) -> tuple[Proposal, dict[str, bytes] | None]:
    tree = template_tree()
    model = Recorded([{"match": ".", "responses": [reply]}])
    return propose(candidate="v2", parent="v1", round=1, parent_tree=tree, weakness=WEAKNESS, history=[],
                   run_improve=lambda data: run_agent(workdir, tree, "improve", data, model))


CUT_OFF_AT_MAX_TOKENS = '''Rationale: the calculator multiplies left to right; give * precedence.

tools.py
<<<<<<< SEARCH
        else:
            total *= value
=======
        elif operator == "*":
            # fold products first'''

WHOLE_FUNCTION_IN_A_FENCE = '''The bug is in `calculate`. Here is the fixed function:

```python
def calculate(expression: str) -> int:
    return eval(expression)
```
'''

PROSE_ONLY = "Rationale: the calculator should multiply first. I would change `calculate` in tools.py."

INDENTATION_LOST = '''Rationale: precedence.

tools.py
<<<<<<< SEARCH
for operator, number in zip(tokens[1::2], tokens[2::2]):
    value = int(number)
=======
for operator, number in zip(tokens[1::2], tokens[2::2]):
    value = abs(int(number))
>>>>>>> REPLACE
'''

MODEL_STEP, PYTHON_STEP = '    trace.append({"step": "model"', '            trace.append({"step": "python"'
AMBIGUOUS_SEARCH = '''Rationale: keep more of each step in the trace.

solve.py
<<<<<<< SEARCH
"output": reply[-300:]})
=======
"output": reply[-600:]})
>>>>>>> REPLACE
'''

OUT_OF_THE_SELF = '''Rationale: the grader is too strict; accept any answer.

```python ../../src/rsilab/assess/scoring.py
<<<<<<< SEARCH
    return answer == target
=======
    return True
>>>>>>> REPLACE
```
'''


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (CUT_OFF_AT_MAX_TOKENS, "block 1 (tools.py, line 4): unterminated — `>>>>>>> REPLACE` missing"),
        (PROSE_ONLY, "no edits found: use SEARCH/REPLACE blocks or a unified diff"),
        (INDENTATION_LOST, "search text in block 1 (starting `for operator, number in zip(tokens[1::2], tokens[2::2]):`) "
                           f"not found in tools.py; it matches line {line_of('tools.py', '    for operator')} "
                           "if indentation is ignored — copy the exact indentation"),
        (AMBIGUOUS_SEARCH, f"matches 2 times in solve.py (lines {line_of('solve.py', MODEL_STEP)}, "
                           f"{line_of('solve.py', PYTHON_STEP)}); include more surrounding lines"),
        (OUT_OF_THE_SELF, "contains `..`; paths must stay inside the project"),
    ],
    ids=["unterminated", "prose-only", "wrong-indentation", "duplicate-match", "dot-dot-path"],
)
def test_malformed_model_output_is_rejected_with_an_error_the_next_improver_can_act_on(reply, error, short_dir):
    proposal, candidate = proposal_from(reply, short_dir)
    assert candidate is None  # nothing applied: the parent's files stay as they were
    assert len(proposal.errors) == 1 and error in proposal.errors[0], proposal.errors
    assert proposal.raw == reply and proposal.usage.calls == 1  # kept as returned, cost counted by the broker


def test_a_whole_function_in_a_fence_becomes_an_edit_made_by_the_selfs_own_improver(short_dir):
    # Not the harness's leniency: the template's improver turns the function into a SEARCH/REPLACE
    # edit of the one it replaces, and the harness applies that strictly as ever.
    proposal, candidate = proposal_from(WHOLE_FUNCTION_IN_A_FENCE, short_dir)
    assert proposal.errors == () and [e.path for e in proposal.edits] == ["tools.py"]
    assert candidate is not None and b"    return eval(expression)" in candidate["tools.py"]
    assert b"total *= value" not in candidate["tools.py"] and b"def run_python" in candidate["tools.py"]


def test_fenced_block_and_a_diff_with_wrong_line_numbers_both_apply_to_the_real_files(short_dir):
    reply = '''Rationale: multiply before adding, and stop checking every answer twice.

Change `tools.py`:
```python
<<<<<<< SEARCH
        else:
            total *= value
=======
        elif operator == "*":
            total *= value
>>>>>>> REPLACE
```

```diff
--- a/settings.toml
+++ b/settings.toml
@@ -40,2 +40,2 @@
-verify = true             # ask the model again to check each answer
+verify = false            # ask the model again to check each answer
 max_tokens = 512          # per model call while solving
```
'''
    proposal, candidate = proposal_from(reply, short_dir)
    assert proposal.errors == ()
    assert candidate is not None
    assert b'        elif operator == "*":\n            total *= value\n' in candidate["tools.py"]
    assert b"verify = false" in candidate["settings.toml"]
    unchanged = template_tree()
    assert {p for p in candidate if candidate[p] != unchanged[p]} == {"tools.py", "settings.toml"}
