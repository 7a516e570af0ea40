"""The stages that read the self's output file are total: any bytes give a recordable result."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from rsilab.assess.runner import assess
from rsilab.assess.splits import draw_tasks
from rsilab.config import AssessConfig
from rsilab.propose.stage import propose
from rsilab.records import Usage
from rsilab.sandbox.process import RunResult
from rsilab.sandbox.selfrun import SelfRun

TASKS = draw_tasks(AssessConfig(), "dev", 3, seed=7)
PARENT = {"solve.py": b"x = 1\n", "prompts/solve.md": b"solve\n"}
PIECES = [b'{"answers": [', b'{"id": "t0", "answer": ', b'{"id": "t1", "trace": [', b'"steps": ', b"]}", b"}", b"]",
          b",", b"1e999", b"NaN", b"9" * 100, b'"\\ud800"', b'"x"', b"[" * 70, b"\xff", b"null", b'{"edits": ',
          b'"solve.py\\n<<<<<<< SEARCH\\nx = 1\\n=======\\nx = 2\\n>>>>>>> REPLACE\\n"', b', "rationale": ', b"{}"]
outputs = st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(PIECES), max_size=25).map(b"".join))


def finished(output: bytes) -> SelfRun:
    result = RunResult(returncode=0, stdout="", stderr="", wall_seconds=0.1, cpu_seconds=0.1, timed_out=False, violations=())
    return SelfRun(result=result, output=output, usage=Usage(), broker_calls=())


@given(outputs)
def test_any_answers_file_gives_an_assessment_that_can_be_recorded(output: bytes) -> None:
    result = assess("v1", TASKS, "dev", 7, lambda payload: finished(output))
    assert len(result.outcomes) == len(TASKS)
    json.loads(result.model_dump_json())  # what the ledger and artifact store will write


@given(outputs)
def test_any_improver_output_gives_a_proposal_that_can_be_recorded(output: bytes) -> None:
    proposal, tree = propose(candidate="v2", parent="v1", round=1, parent_tree=PARENT, weakness={}, history=[],
                             run_improve=lambda payload: finished(output))
    assert (tree is None) == bool(proposal.errors)
    json.loads(proposal.model_dump_json())
    if tree is not None:
        assert set(PARENT) <= set(tree)
