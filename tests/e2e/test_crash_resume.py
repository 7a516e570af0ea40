"""Kill -9 the harness at many points of a round; resuming must lose and duplicate nothing."""

from __future__ import annotations

import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rsilab.experiment import Experiment
from rsilab.records import VersionState
from search_scripts import search_config

ROUNDS = 3


def _event_count(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0]


def _run_until_killed(root: Path, kill_after_events: int, extra_delay: float, rounds: int = ROUNDS) -> bool:
    """Start `rsilab run`; SIGKILL it once the ledger holds `kill_after_events` events. True if killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rsilab.cli", "run", "--rounds", str(rounds), "-C", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    db = root / ".rsilab" / "ledger.db"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if _event_count(db) >= kill_after_events:
            time.sleep(extra_delay)
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    process.wait(timeout=120)
    return False


@pytest.mark.slow
def test_kill_at_many_points_then_resume_leaves_a_clean_ledger_and_the_right_deployed_version(demo_experiment: Experiment):
    root = demo_experiment.root
    rng = random.Random(7)
    kills = 0
    for target in range(4, 32, 3):
        kills += _run_until_killed(root, target, rng.choice([0.0, 0.01, 0.05, 0.2]))
    assert kills >= 5, "the harness finished before it could be killed often enough"

    final = subprocess.run([sys.executable, "-m", "rsilab.cli", "run", "--rounds", str(ROUNDS), "-C", str(root)],
                           capture_output=True, text=True)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr

    exp = Experiment(root)
    verified = exp.ledger.verify()
    assert verified.ok, verified
    rows = exp.rows()
    story = "\n".join(f"{e.seq} {e.kind} {e.payload.get('version', '')} {e.payload.get('summary', '')}" for e in exp.events())
    assert rows["v2"].failed_gate == "protected-integrity", story
    assert rows["v3"].failed_gate == "contract", story
    assert rows["v4"].state == VersionState.DEPLOYED and len(rows) == 4, story
    assert exp.versions.deployed() == exp.commit_of("v4"), story

    # Exactly one of each step per round: nothing lost, nothing duplicated.
    per_round = collections.Counter((e.kind, e.payload.get("round")) for e in exp.events())
    for number in range(1, ROUNDS + 1):
        for kind in ("round.started", "proposal.recorded", "verdict.recorded", "decision.recorded", "round.completed"):  # noqa: E501
            assert per_round[(kind, number)] == 1, f"{kind} in round {number}\n{story}"
    assessments = collections.Counter(
        (e.payload["round"], e.payload["version"], e.payload["split"], e.payload["stage"])
        for e in exp.events("assessment.recorded")
    )
    assert max(assessments.values()) == 1
    assert per_round[("version.deployed", ROUNDS)] == 1
    assert per_round[("canary.recorded", ROUNDS)] == 1


def test_deploy_interrupted_between_event_and_ref_is_repaired_on_resume(demo_experiment: Experiment):
    exp = demo_experiment
    exp.run(ROUNDS)
    # Simulate a crash after `version.deployed` was written but before the ref moved, killed while
    # git held the ref's lock file (seen in the kill loop above: every later run then failed).
    exp.versions.set_deployed(exp.commit_of("v1"))
    stale = exp.root / "self" / ".git" / "refs" / "heads" / "deployed.lock"
    stale.write_text(exp.commit_of("v1") + "\n")
    with pytest.warns(UserWarning, match="refs/heads/deployed.lock"):
        exp.run(ROUNDS)
    assert exp.versions.deployed() == exp.commit_of("v4") and not stale.exists()
    assert "terms.append" in (exp.root / "self" / "tools.py").read_text()


@pytest.mark.slow
def test_kill_with_four_candidates_in_flight_then_resume_finishes_the_round_once(tmp_path: Path):
    root = Experiment.init(tmp_path / "exp", "agent", config_text=search_config(candidates=4)).root
    rng = random.Random(11)
    # Events 4-30 span the concurrent proposals, the concurrent contract/safety jobs and the benchmark.
    kills = sum(_run_until_killed(root, target, rng.choice([0.0, 0.02, 0.1, 0.3]), rounds=1) for target in range(4, 31, 2))
    assert kills >= 5, "the harness finished before it could be killed often enough"
    final = subprocess.run([sys.executable, "-m", "rsilab.cli", "run", "--rounds", "1", "-C", str(root)],
                           capture_output=True, text=True)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr

    exp = Experiment(root)
    assert exp.ledger.verify().ok
    story = "\n".join(f"{e.seq} {e.kind} {e.payload.get('version', '')}" for e in exp.events())
    per_kind = collections.Counter(e.kind for e in exp.events() if e.payload.get("round") == 1)
    assert per_kind["round.started"] == 1 and per_kind["round.completed"] == 1, story
    for kind in ("proposal.recorded", "verdict.recorded", "decision.recorded"):
        assert per_kind[kind] == 4, f"{kind}\n{story}"
    proposals = exp.events("proposal.recorded")
    assert sorted(p.payload["candidate"] for p in proposals) == [1, 2, 3, 4]
    assert [p.payload["version"] for p in proposals] == ["v2", "v3", "v4", "v5"], story
    assessments = collections.Counter((e.payload["version"], e.payload["split"], e.payload["stage"])
                                      for e in exp.events("assessment.recorded"))
    assert max(assessments.values()) == 1, story
    fix = next(p.payload["version"] for p in proposals if p.payload["candidate"] == 3)
    assert exp.versions.deployed() == exp.commit_of(fix) and per_kind["version.deployed"] == 1, story
