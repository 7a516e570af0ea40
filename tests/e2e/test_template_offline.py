"""`rsilab init` then `rsilab run --rounds N` on the agent template as shipped: offline, no keys."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rsilab.config import LLMConfig
from rsilab.errors import ProviderError
from rsilab.experiment import Experiment
from rsilab.llm.factory import make_provider


def rsilab(*args: str) -> subprocess.CompletedProcess[str]:
    # No network is needed: a cleared environment proves no key or proxy setting is used.
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "rsilab.cli", *args], capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a real 1.5B proposal on 2 cores: ~3 min quiet, far more beside other jobs
def test_shipped_agent_template_runs_a_round_offline_on_its_default_embedded_model(tmp_path: Path):
    try:
        make_provider(LLMConfig())
    except ProviderError as e:
        if os.environ.get("RSILAB_REQUIRE_EMBEDDED"):
            raise
        pytest.skip(f"the embedded model is not installed (run `make embedded`): {e}")
    root = tmp_path / "exp"
    assert rsilab("init", str(root), "--template", "agent").returncode == 0
    # One candidate: the default two cost two embedded proposals, minutes each on 2 cores.
    done = rsilab("run", "--rounds", "1", "--candidates", "1", "-C", str(root))
    # 0: the round ended; 3: the candidate passed every gate and waits for a person (autonomy "human").
    assert done.returncode in (0, 3), done.stderr

    exp = Experiment(root)
    assert exp.config.llm.provider == "embedded"
    proposal = exp.events("proposal.recorded")[0].payload
    # v1's own improver ran in the sandbox and asked the real model, counted by the broker.
    assert proposal["parent"] == "v1" and proposal["usage"]["calls"] >= 1 and proposal["usage"]["tokens_out"] > 0
    assert exp.events("verdict.recorded") and exp.ledger.verify().ok
    assert exp.versions.deployed() == exp.commit_of("v1")  # nothing deployed without a person
