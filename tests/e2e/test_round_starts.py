"""Fewer sandbox starts a round, same verdicts: runs that would judge nothing are not started."""

from __future__ import annotations

from pathlib import Path

import pytest

import rsilab.runtime
from rsilab.experiment import Experiment
from search_scripts import search_config


def test_when_every_candidate_stops_at_stage_one_the_deployed_version_skips_stage_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # One candidate a round: the harmless edit (a comment), no better than the deployed version.
    config = search_config(candidates=1).replace('match = "Attempt 4 of 4"', 'match = "You improve an AI agent"', 1)
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=config)
    runs: list[str] = []  # every sandboxed run of the self, by command (the real runs, only counted)
    real = rsilab.runtime.run_self
    monkeypatch.setattr(rsilab.runtime, "run_self", lambda tree, command, *a, **k: runs.append(command) or real(
        tree, command, *a, **k))
    [result] = exp.run(1)
    # dev, improve, smoke tasks and safety probes in one run, stage one of the deployed version and of the candidate
    assert runs == ["solve", "improve", "solve", "solve", "solve"]
    assert result.outcome == "rejected"
    [verdict] = exp.events("verdict.recorded")
    assert verdict.payload["failed_gate"] == "benchmark"
    held = [(e.payload["version"], e.payload.get("stage")) for e in exp.events("assessment.recorded")
            if e.payload["split"] == "heldout"]
    assert held == [("v1", 1), ("v2", 1)]
    assert exp.ledger.verify().ok
