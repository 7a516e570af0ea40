"""Fewer sandbox starts a round, same verdicts: runs that would judge nothing are not started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rsilab.runtime
from rsilab.experiment import Experiment
from rsilab.records import Assessment
from rsilab.verify.alignment import load_alignment
from search_scripts import search_config


def test_when_every_candidate_stops_at_stage_one_the_deployed_version_skips_stage_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # One candidate a round: the harmless edit (a comment), no better than the deployed version.
    config = search_config(candidates=1).replace('match = "Attempt 4 of 4"', 'match = "You improve an AI agent"', 1)
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=config)
    runs = counted_runs(monkeypatch)
    [result] = exp.run(1)
    # dev and the deployed's stage one side by side, improve, then the candidate's smoke tasks,
    # safety probes and stage one in one run; no stage two for either
    assert [command for command, _ in runs] == ["solve", "solve", "improve", "solve"]
    assert result.outcome == "rejected"
    [verdict] = exp.events("verdict.recorded")
    assert verdict.payload["failed_gate"] == "benchmark"
    held = [(e.payload["version"], e.payload.get("stage")) for e in exp.events("assessment.recorded")
            if e.payload["split"] == "heldout"]
    assert held == [("v1", 1), ("v2", 1)]
    assert exp.ledger.verify().ok


def test_with_two_workers_the_deployed_answers_stage_one_beside_the_dev_run_on_the_judges_own_draw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = search_config(candidates=1).replace('match = "Attempt 4 of 4"', 'match = "You improve an AI agent"', 1)
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=config)
    runs = counted_runs(monkeypatch)
    exp.run(1)
    kinds = [(e.kind, e.payload.get("version"), e.payload.get("split")) for e in exp.events()
             if e.kind in {"assessment.recorded", "proposal.recorded"}]
    # Recorded before the improver ran, right after the dev run whose questions its draw leaves out.
    assert kinds[:3] == [("assessment.recorded", "v1", "dev"), ("assessment.recorded", "v1", "heldout"),
                         ("proposal.recorded", "v2", None)]
    answered = {(e.payload["version"], e.payload["split"]): exp.artifacts.get_record(e.payload["artifact"], Assessment)
                for e in exp.events("assessment.recorded")}
    dev = {o.question for o in answered["v1", "dev"].outcomes}
    deployed = [o.question for o in answered["v1", "heldout"].outcomes]
    assert not dev & set(deployed)
    # The candidate was judged on exactly those questions, and the deployed's run held them alone.
    assert [o.question for o in answered["v2", "heldout"].outcomes] == deployed
    assert deployed in [questions for command, questions in runs[:2]]
    assert dev == set(next(q for _, q in runs[:2] if q != deployed))


def counted_runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str]]]:
    """Every sandboxed run of the self from now on: its command and the questions it was given (the runs are real)."""
    runs: list[tuple[str, list[str]]] = []
    real = rsilab.runtime.run_self

    def run_self(tree, command, payload, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        tasks = json.loads(payload).get("tasks", []) if command == "solve" else []
        runs.append((command, [t["question"] for t in tasks]))
        return real(tree, command, payload, *args, **kwargs)

    monkeypatch.setattr(rsilab.runtime, "run_self", run_self)
    return runs


def test_a_candidates_smoke_tasks_probes_and_stage_one_share_one_run_in_an_order_the_harness_drew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=search_config(candidates=1).replace(
        "workers = 2", "workers = 1").replace('match = "Attempt 3 of 4"', 'match = "You improve an AI agent"', 1))
    runs = counted_runs(monkeypatch)
    [result] = exp.run(1)
    assert result.outcome in {"deployed", "rolled-back"}
    # dev, improve, candidate (smoke + probes + stage one), deployed stage one, stage two of both, canary of both
    assert [command for command, _ in runs] == ["solve", "improve"] + ["solve"] * 6
    probes = [t.question for t in load_alignment(exp.versions.files(exp.events("round.started")[0].payload["commit"])).probes]
    held = {e.payload["version"]: e for e in exp.events("assessment.recorded")
            if e.payload["split"] == "heldout" and e.payload["stage"] == 1}
    stage_one = [o.question for o in exp.artifacts.get_record(held["v2"].payload["artifact"], Assessment).outcomes]
    shared = runs[2][1]
    assert set(probes) <= set(shared) and set(stage_one) <= set(shared)
    assert len(shared) == len(probes) + len(stage_one) + 3  # and the three smoke tasks
    assert shared[-len(stage_one):] != stage_one  # not simply appended: the self cannot tell them by position
    assert held["v2"].payload["shared_run"] == {"splits": ["smoke", "probes", "heldout"], "tasks": len(shared)}
    assert "shared_run" not in held["v1"].payload
    # The deployed version answered the same stage-one questions alone.
    assert [o.question for o in exp.artifacts.get_record(held["v1"].payload["artifact"], Assessment).outcomes] == stage_one
    assert runs[3][1] == stage_one


def test_a_candidate_that_fails_the_contract_keeps_no_held_out_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = search_config(candidates=1).replace('match = "Attempt 4 of 4"', 'match = "You improve an AI agent"', 1)
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=config)
    real = rsilab.runtime.run_self

    def broken_candidate(tree, command, payload, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if b"# the first number starts" in tree.get("tools.py", b""):  # the candidate: it no longer starts
            tree = {**tree, "main.py": b"raise SystemExit(3)\n"}
        return real(tree, command, payload, *args, **kwargs)

    monkeypatch.setattr(rsilab.runtime, "run_self", broken_candidate)
    [result] = exp.run(1)
    [verdict] = exp.events("verdict.recorded")
    assert result.outcome == "rejected" and verdict.payload["failed_gate"] == "contract"
    held = [e.payload["version"] for e in exp.events("assessment.recorded") if e.payload["split"] == "heldout"]
    assert "v2" not in held
