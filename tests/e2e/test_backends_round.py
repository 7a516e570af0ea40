"""A full agent round on each real sandbox backend: the improver reaches its model through the
broker, and the fix it proposes is judged and deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsilab.experiment import Experiment
from rsilab.records import VersionState
from rsilab.sandbox.factory import sandbox_problem
from search_scripts import search_config


@pytest.mark.parametrize("backend", ["bwrap", "landlock"])
def test_a_round_on_each_backend_deploys_the_fix_the_improver_asked_its_model_for(tmp_path: Path, backend: str):
    if problem := sandbox_problem(backend):
        pytest.skip(f"{backend} cannot run here: {problem}")
    config = search_config(candidates=4).replace("[sandbox]\n", f'[sandbox]\nbackend = "{backend}"\n', 1)
    if f'backend = "{backend}"' not in config:
        config += f'\n[sandbox]\nbackend = "{backend}"\n'
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=config)
    [result] = exp.run(1)
    proposals = {e.payload["candidate"]: e.payload for e in exp.events("proposal.recorded")}
    assert all(p["errors"] == [] for p in proposals.values()), [p["errors"] for p in proposals.values()]
    assert result.outcome == "deployed", result
    assert exp.rows()[proposals[3]["version"]].state == VersionState.DEPLOYED
    assert exp.ledger.verify().ok
