"""A round always ends: whatever the self writes, the candidate is rejected with the bound it broke,
the round completes, the next `rsilab run` goes on, and the ledger verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from conftest import demo_config
from redteam.lab import LIMITS, needs_bwrap
from rsilab.experiment import Experiment

TEMPLATE_MAIN = (Path(__file__).parents[2] / "src/rsilab/templates/agent/main.py").read_text()
WEDGE_UID = 61013
WRITE_ANSWERS = '''    with open(target, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
'''


def config(proposal: str, backend: str = "bwrap") -> str:
    # A uid of its own: other suites on this machine sweep the red team's uid, which would kill our runs.
    limits = {**LIMITS, "uid": WEDGE_UID} if backend == "bwrap" else {k: v for k, v in LIMITS.items() if k != "uid"}
    return tomli_w.dumps({
        "assess": {"dev_n": 4, "heldout_n": 8, "difficulties": [1, 2]},
        "sandbox": {"backend": backend, **limits},
        "llm": {"provider": "scripted", "rules": [
            {"match": "You improve an AI agent|Earlier proposal", "responses": [proposal]},
            {"match": ".", "responses": ["\\boxed{0}"]},
        ]},
        "gates": {"canary": {"tasks": 0}},
        "review": {"autonomy": "policy"},
    })


def create(path: str, body: str = "x = 1\n") -> str:
    return f"Rationale: a new file.\n\n{path}\n<<<<<<< SEARCH\n=======\n{body}>>>>>>> REPLACE\n"


def answers_written_as(code: str) -> str:
    """A proposal whose main.py writes its output to `target` with `code` (in main()) instead of json.dump."""
    body = "".join(f"    {line}\n" for line in code.strip().splitlines())
    return f"Rationale: faster output.\n\nmain.py\n<<<<<<< SEARCH\n{WRITE_ANSWERS}=======\n{body}>>>>>>> REPLACE\n"


def two_runs(tmp_path: Path, text: str) -> Experiment:
    """Two rounds, each in its own `run` as a person would start them; both must complete."""
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=text)
    reasons = lambda: [e.payload.get("reason") for e in exp.events("round.completed")]  # noqa: E731
    assert [r.outcome for r in exp.run(1)] == ["rejected"], reasons()
    assert [r.outcome for r in Experiment(exp.root).run(2)] == ["rejected"], reasons()
    assert len(exp.events("round.completed")) == 2
    assert exp.ledger.verify().ok
    assert exp.versions.deployed() == exp.commit_of("v1")
    return exp


def failed(exp: Experiment, version: str) -> tuple[str | None, str]:
    row = exp.rows()[version]
    assert row.state == "rejected"
    return row.failed_gate, row.verdict_summary or ""


@needs_bwrap
@pytest.mark.parametrize("proposal, bound", [
    (create("a" * 5000 + ".py"), "over the limit"),
    (create("solve.py/inner.py"), "solve.py is a file, not a directory"),
    ("Rationale: a file.\n\n--- /dev/null\n+++ b/prompts\n@@ -0,0 +1 @@\n+x\n", "it is a directory of other files"),
    (create("/".join(["d"] * 20) + "/f.py"), "has 21 components, over the limit of 16"),
])
def test_an_edit_out_of_bounds_rejects_the_candidate_and_the_rounds_go_on(tmp_path: Path, proposal: str, bound: str) -> None:
    exp = two_runs(tmp_path, config(proposal))
    gate, summary = failed(exp, "v2")
    assert gate == "edit-hygiene" and bound in summary
    assert not [e for e in exp.events("assessment.recorded") if e.payload["version"] == "v2"]  # nothing of it ran


@needs_bwrap
@pytest.mark.parametrize("code, bound", [
    ('open(target, "wb").write(b"[" * 100_000 + b"]" * 100_000)', "nested deeper than 64 levels"),
    ("""open(target, "wb").write(b'{"answers": [{"id": "t0", "answer": ' + b"9" * 10_000 + b'}]}')""",
     "a number of 10000 characters"),
    ("""open(target, "wb").write(b'{"answers": [{"id": "t0", "answer": NaN}]}')""", "NaN is not JSON"),
    ("""open(target, "wb").write(b'{"answers": [{"id": "t0", "answer": "\\\\ud800"}]}')""", "lone surrogate"),
    ("""open(target, "wb").write(b'{"answers": [{"id": "t0", "answer": "\\xff"}]}')""", "not valid UTF-8"),
])
def test_a_candidate_writing_unreadable_answers_is_rejected_by_contract_naming_the_bound(
    tmp_path: Path, code: str, bound: str,
) -> None:
    exp = two_runs(tmp_path, config(answers_written_as(code)))
    gate, summary = failed(exp, "v2")
    assert gate == "contract" and bound in summary, summary


def test_a_candidate_making_its_output_a_fifo_is_rejected_without_hanging_the_harness(tmp_path: Path) -> None:
    # Under bwrap the output is a bind-mounted file the self cannot replace; the process backend lets it.
    code = "import os\nos.mkfifo(target)"
    with pytest.warns(UserWarning):
        exp = two_runs(tmp_path, config(answers_written_as(code), backend="process"))
    gate, summary = failed(exp, "v2")
    assert gate == "contract" and "is not a regular file (it is a FIFO)" in summary, summary


@needs_bwrap
def test_a_deployed_self_that_cannot_be_assessed_closes_the_round_with_the_reason_and_run_goes_on(tmp_path: Path) -> None:
    broken = TEMPLATE_MAIN.replace(WRITE_ANSWERS, '''    with open(target, "w", encoding="utf-8") as handle:
        handle.write('{"answers": NaN}')
''')
    assert broken != TEMPLATE_MAIN
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=config(create("notes.md")),
                          files={"main.py": broken.encode()})
    assert [r.outcome for r in exp.run(1)] == ["closed"]
    assert [r.outcome for r in Experiment(exp.root).run(2)] == ["closed"]
    closed = [e.payload for e in exp.events("round.completed")]
    assert [c["round"] for c in closed] == [1, 2]
    assert all("v1 could not be assessed on dev" in c["reason"] and "NaN" in c["reason"] for c in closed)
    assert exp.ledger.verify().ok


def rsilab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rsilab.cli", *args], capture_output=True, text=True)


def test_round_abandon_closes_an_open_round_and_run_starts_the_next(tmp_path: Path) -> None:
    text = demo_config().replace('autonomy = "policy"', 'autonomy = "human"')
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=text)
    first = rsilab("run", "--rounds", "3", "-C", str(exp.root))
    assert first.returncode == 3, first.stderr  # round 3's candidate awaits a person: the round stays open
    assert [p["round"] for p in exp.pending_reviews()] == [3]

    refused = rsilab("round", "abandon", "2", "-m", "not open", "-C", str(exp.root))
    assert refused.returncode == 1 and "round 2 is not open" in refused.stderr and "Traceback" not in refused.stderr
    done = rsilab("round", "abandon", "3", "-m", "the reviewer is away", "--by", "ada", "-C", str(exp.root))
    assert done.returncode == 0, done.stderr
    last = exp.events("round.completed")[-1].payload
    assert (last["round"], last["outcome"], last["reason"], last["by"]) == (3, "closed", "the reviewer is away", "person:ada")
    assert exp.pending_reviews() == []

    again = rsilab("run", "--rounds", "4", "-C", str(exp.root))
    assert again.returncode in (0, 3), again.stderr
    started = [e.payload["round"] for e in exp.events("round.started")]
    assert started == [1, 2, 3, 4]  # round 3 was not resumed
    assert exp.ledger.verify().ok
