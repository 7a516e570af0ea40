"""Assessment end to end: real sandboxed selves, a real ledger, the `rsilab assess` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from rsilab.experiment import Experiment
from rsilab.records import Assessment
from rsilab import runtime as runtime_module
from rsilab.sandbox.process import Limits, RunResult, Sandbox


class RecordingSandbox:
    """The configured real sandbox, which first records everything the self is given: files, env, argv."""

    seen: ClassVar[list[dict[str, object]]] = []

    def __init__(self, real: Sandbox) -> None:
        self.real, self.name, self.python = real, real.name, real.python

    def run(self, argv: Sequence[str], workdir: Path, *, limits: Limits, env: Mapping[str, str] | None = None,
            **options: object) -> RunResult:
        files = {str(p.relative_to(workdir)): p.read_bytes() for p in Path(workdir).rglob("*") if p.is_file()}
        self.seen.append({"argv": list(argv), "env": dict(env or {}), "files": files})
        return self.real.run(argv, workdir, limits=limits, env=env, **options)


@pytest.mark.slow
def test_heldout_seeds_differ_each_round_and_neither_they_nor_targets_ever_reach_the_sandbox(
    demo_experiment: Experiment, monkeypatch: pytest.MonkeyPatch
):
    RecordingSandbox.seen = []
    real_factory = runtime_module.make_sandbox
    monkeypatch.setattr(runtime_module, "make_sandbox", lambda *a, **k: RecordingSandbox(real_factory(*a, **k)))
    exp = demo_experiment
    exp.run(3)

    rounds = [e.payload for e in exp.events("round.started")]
    heldout_seeds = [r["heldout_seed"] for r in rounds]
    assert len(set(heldout_seeds)) == 3
    every_seed = {r[k] for r in rounds for k in ("dev_seed", "heldout_seed", "smoke_seed", "canary_seed")}
    checkable = [s for s in every_seed if s >= 10**6]  # shorter numbers could appear in a question by chance
    assert any(s in checkable for s in heldout_seeds)

    solves = [r for r in RecordingSandbox.seen if "solve" in r["argv"]]
    assert len(solves) >= 4  # dev every round, smoke, and held-out for parent and candidate
    tree = set(exp.versions.files(exp.commit_of("v1")))
    for run in solves:
        seen_text = b"\n".join([*run["files"].values(), json.dumps(run["env"]).encode(), " ".join(run["argv"]).encode()])
        assert not [s for s in checkable if str(s).encode() in seen_text]
        tasks = json.loads(run["files"]["rsilab_input.json"])["tasks"]
        assert all(set(t) == {"id", "question"} and re.fullmatch(r"t\d+", t["id"]) for t in tasks)
        assert set(run["files"]) - tree <= {"rsilab_input.json"}  # no targets file, nothing else

    recorded = [(e.payload, exp.artifacts.get_record(e.payload["artifact"], Assessment)) for e in exp.events("assessment.recorded")]
    dev_questions = {o.question for p, a in recorded if p["split"] == "dev" for o in a.outcomes}
    heldout = [a for p, a in recorded if p["split"] == "heldout"]
    assert heldout and not {o.question for a in heldout for o in a.outcomes} & dev_questions
    given = [json.loads(r["files"]["rsilab_input.json"])["tasks"] for r in solves]
    assert [o.question for o in heldout[-1].outcomes] in [[t["question"] for t in g] for g in given]


def test_a_planted_weak_family_leads_the_report_of_a_real_self_and_progress_comes_from_the_self(
    demo_experiment: Experiment, tmp_path: Path
):
    rows = [{"question": f"Compute {i} + {2 * i}", "answer": str(3 * i), "family": "sums"} for i in range(40)]
    rows += [{"question": f"Which bird is number {i}?", "answer": "robin", "family": "riddles", "difficulty": 2} for i in range(40)]
    dataset = tmp_path / "mine.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    calls: list[tuple[int, int]] = []
    result, digest = demo_experiment.assess_version("v1", dataset=dataset, n=30, on_progress=lambda d, t: calls.append((d, t)))

    from rsilab.assess.weakness import weakness_report

    report = weakness_report(result, max_examples=2)
    assert (report["groups"][0]["family"], report["groups"][0]["difficulty"]) == ("riddles", 2)
    assert report["groups"][0]["accuracy"] == 0 and report["groups"][-1]["accuracy"] == 1
    assert report["failures"][0]["trace"][0]["step"] == "model"  # what the self did, step by step
    assert calls[0] == (0, result.n) and calls[-1] == (result.n, result.n)  # counted from the self's progress file
    event = exp_event(demo_experiment, digest)
    assert event["round"] is None and event["split"] == "heldout" and event["suite"] == "jsonl"


@pytest.mark.slow
def test_rsilab_assess_prints_a_table_and_json_and_stores_an_artifact_and_a_ledger_event(demo_experiment: Experiment):
    root = str(demo_experiment.root)
    shown = subprocess.run([sys.executable, "-m", "rsilab.cli", "assess", "v1", "--n", "9", "-C", root],
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "accuracy (95% CI)" in shown.stdout and "arithmetic" in shown.stdout and "stored: artifact" in shown.stdout

    as_json = subprocess.run([sys.executable, "-m", "rsilab.cli", "assess", "v1", "--suite", "reasoning", "--n", "14", "--json",
                              "-C", root], capture_output=True, text=True)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert {g["family"] for g in data["groups"]} == {"basic_arithmetic", "simple_equations", "gsm_symbolic", "knights_knaves",
                                                     "syllogism", "zebra_puzzles", "propositional_logic"}
    assert data["summary"]["n"] == 14 and data["weakness"]["groups"]
    stored = demo_experiment.artifacts.get_record(data["artifact"], Assessment)
    assert stored.n == 14 and exp_event(demo_experiment, data["artifact"])["suite"] == "reasoning"
    assert demo_experiment.rows()["v1"].heldout == {}  # a round's benchmark figures are not overwritten


def exp_event(exp: Experiment, digest: str) -> dict[str, object]:
    return next(e.payload for e in exp.events("assessment.recorded") if e.payload["artifact"] == digest)
