"""`rsilab init` then `rsilab run --rounds N` on the agent template as shipped: offline, no keys."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rsilab.experiment import Experiment


def rsilab(*args: str) -> subprocess.CompletedProcess[str]:
    # No network is needed: a cleared environment proves no key or proxy setting is used.
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "rsilab.cli", *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_shipped_agent_template_runs_two_rounds_offline_with_its_own_config(tmp_path: Path):
    root = tmp_path / "exp"
    assert rsilab("init", str(root), "--template", "agent").returncode == 0
    done = rsilab("run", "--rounds", "2", "-C", str(root))
    assert done.returncode == 0, done.stderr

    exp = Experiment(root)
    assert [e.payload["outcome"] for e in exp.events("round.completed")] == ["rejected", "rejected"]
    # Each round ran v1's own improver in the sandbox; the model's "no change" is a proposal with no edits.
    proposals = [e.payload for e in exp.events("proposal.recorded")]
    assert [p["parent"] for p in proposals] == ["v1", "v1"] and all(p["usage"]["calls"] == 1 for p in proposals)
    assert exp.rows()["v3"].failed_gate == "edit-hygiene"
    assert exp.versions.deployed() == exp.commit_of("v1") and exp.ledger.verify().ok
