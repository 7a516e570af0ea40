"""A round as a search step: four scripted candidates, one of them the real fix, judged side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsilab.experiment import Experiment
from rsilab.records import GateResult, Verdict, VersionState
from rsilab.search.archive import build_archive
from search_scripts import search_config

def benchmark_of(exp: Experiment, version: str) -> GateResult:
    recorded = next(e.payload for e in exp.events("verdict.recorded") if e.payload["version"] == version)
    verdict = exp.artifacts.get_record(recorded["artifact"], Verdict)
    return next(g for g in verdict.gates if g.name == "benchmark")


@pytest.fixture
def search_experiment(tmp_path: Path) -> Experiment:
    return Experiment.init(tmp_path / "exp", "agent", config_text=search_config())


def test_one_of_four_candidates_is_the_fix_and_it_alone_is_deployed(search_experiment: Experiment):
    exp = search_experiment
    [result] = exp.run(1)
    assert result.outcome == "deployed"

    started = exp.events("round.started")[0].payload
    seeds = started["candidate_seeds"]
    assert started["candidates"] == 4 and len(set(seeds)) == 4
    proposals = {e.payload["candidate"]: e.payload for e in exp.events("proposal.recorded")}
    # Each candidate is its own version with the seed the harness drew for it.
    assert [proposals[k]["seed"] for k in (1, 2, 3, 4)] == seeds
    by_attempt = {k: proposals[k]["version"] for k in proposals}
    rows = exp.rows()
    assert rows[by_attempt[1]].failed_gate == "protected-integrity"
    assert rows[by_attempt[2]].failed_gate == "contract"
    assert rows[by_attempt[3]].state == VersionState.DEPLOYED
    harmless = rows[by_attempt[4]]
    assert harmless.state == VersionState.REJECTED and harmless.failed_gate == "benchmark"
    assert exp.versions.deployed() == exp.commit_of(by_attempt[3])

    # Every candidate has a decision; the fix was confirmed on a second fresh held-out draw.
    decided = {e.payload["version"] for e in exp.events("decision.recorded")}
    assert decided == set(by_attempt.values())
    fix = by_attempt[3]
    splits = {(e.payload["version"], e.payload["split"]) for e in exp.events("assessment.recorded")}
    assert (fix, "heldout") in splits and (fix, "confirm") in splits
    benchmark = benchmark_of(exp, fix)
    assert benchmark.passed and benchmark.evidence["confirmation"] is True
    # The harmless edit reached the benchmark beside it, lost the selection, and never ran on the confirmation draw.
    assert (by_attempt[4], "heldout") in splits and (by_attempt[4], "confirm") not in splits
    completed = exp.events("round.completed")[0].payload
    assert completed["candidates"] == [by_attempt[k] for k in (1, 2, 3, 4)]
    assert exp.ledger.verify().ok


def test_the_next_round_picks_its_parent_from_the_archive_and_records_why(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=search_config(parent="best"))
    exp.run(2)
    first, second = (e.payload for e in exp.events("round.started"))
    assert first["selection"]["rule"] == "best" and first["parent"] == "v1"  # no held-out score yet
    before_round_two = exp.events("round.started")[1].seq
    archive = build_archive(e for e in exp.events() if e.seq < before_round_two)
    scored = {e.version: e for e in archive.scored}
    # The fix (deployed in round 1) has the best held-out lower bound, and the ledger says so with figures.
    fix = next(e.payload["version"] for e in exp.events("version.deployed") if e.payload.get("round") == 1)
    assert second["parent"] == fix and second["selection"]["reason"] == "largest lower bound"
    figures = {f["version"]: f for f in second["selection"]["figures"]}
    assert set(figures) == set(scored)
    assert figures[fix]["successes"] == scored[fix].successes and figures[fix]["n"] == scored[fix].n
    assert figures[fix]["lower_bound"] == max(f["lower_bound"] for f in figures.values())


def test_holm_acceptance_also_deploys_the_one_real_fix(tmp_path: Path):
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=search_config(acceptance="holm"))
    [result] = exp.run(1)
    assert result.outcome == "deployed"
    fix = next(e.payload["version"] for e in exp.events("proposal.recorded") if e.payload["candidate"] == 3)
    benchmark = benchmark_of(exp, fix)
    # Two candidates reached the benchmark: the fix passed at Holm's level for a family of two, with no second draw.
    assert benchmark.passed and benchmark.evidence["holm_level"] == pytest.approx(0.05 / 2)
    assert not any(e.payload["split"] == "confirm" for e in exp.events("assessment.recorded"))
