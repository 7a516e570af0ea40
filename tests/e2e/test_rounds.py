"""Real rounds on the agent template: real sandboxed runs, real git, a real ledger."""

from __future__ import annotations

import subprocess
import sys

from rsilab.experiment import Experiment
from rsilab.records import VersionState

ROUNDS = 3


def test_three_scripted_proposals_end_as_protected_reject_contract_reject_and_deployed_fix(demo_experiment: Experiment):
    exp = demo_experiment
    results = exp.run(ROUNDS)

    assert [r.outcome for r in results] == ["rejected", "rejected", "deployed"]
    rows = exp.rows()
    assert rows["v2"].state == VersionState.REJECTED and rows["v2"].failed_gate == "protected-integrity"
    assert rows["v3"].state == VersionState.REJECTED and rows["v3"].failed_gate == "contract"
    assert rows["v4"].state == VersionState.DEPLOYED
    assert rows["v1"].state == VersionState.RETIRED

    # The bug fix is a measured gain on the same fresh held-out tasks, never seen by the self.
    heldout = [e.payload for e in exp.events("assessment.recorded") if e.payload["split"] == "heldout"]
    by_version = {p["version"]: p for p in heldout}
    assert by_version["v4"]["summary"]["accuracy"] > by_version["v1"]["summary"]["accuracy"]
    assert by_version["v4"]["seed"] == by_version["v1"]["seed"]
    dev_seeds = {e.payload["seed"] for e in exp.events("assessment.recorded") if e.payload["split"] == "dev"}
    assert by_version["v4"]["seed"] not in dev_seeds

    # Deployed means the ref and the working tree of self/ hold v4's code.
    assert exp.versions.deployed() == exp.commit_of("v4")
    assert "terms.append(sign * product)" in (exp.root / "self" / "tools.py").read_text()
    assert exp.ledger.verify().ok


def test_protected_edit_is_rejected_before_any_of_its_code_runs(demo_experiment: Experiment):
    exp = demo_experiment
    exp.run(1)
    verdict = next(e.payload for e in exp.events("verdict.recorded") if e.payload["version"] == "v2")
    assert [g["name"] for g in verdict["gates"]] == ["edit-hygiene", "protected-integrity"]
    assert not any(e.payload["version"] == "v2" for e in exp.events("assessment.recorded"))
    # alignment.toml in the deployed self is untouched.
    assert "max_calls_per_task = 8" in (exp.root / "self" / "alignment.toml").read_text()


def test_breaking_edit_names_the_failing_gate_and_is_never_deployed(demo_experiment: Experiment):
    exp = demo_experiment
    exp.run(2)
    v3 = exp.rows()["v3"]
    assert v3.failed_gate == "contract"
    assert "SyntaxError" in v3.verdict_summary
    assert exp.versions.deployed() == exp.commit_of("v1")


def test_rsilab_log_lists_every_version_with_its_state(demo_experiment: Experiment):
    exp = demo_experiment
    exp.run(ROUNDS)
    out = subprocess.run(
        [sys.executable, "-m", "rsilab.cli", "log", "--json", "-C", str(exp.root)],
        capture_output=True, text=True, check=True,
    ).stdout
    import json

    states = {row["id"]: row["state"] for row in json.loads(out)}
    assert states == {"v1": "retired", "v2": "rejected", "v3": "rejected", "v4": "deployed"}


def test_rerunning_a_finished_experiment_adds_no_events(demo_experiment: Experiment):
    exp = demo_experiment
    exp.run(ROUNDS)
    count = len(exp.events())
    exp.run(ROUNDS)
    assert len(exp.events()) == count
