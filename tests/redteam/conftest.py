"""The red team's bench: a real experiment, a real bwrap sandbox, and a record of everything outside it.

Every attack runs as a real program through `Experiment.sandbox_exec`, which is exactly the
sandbox a candidate gets. Each test then proves two things: the attack was contained, and
nothing outside changed (the experiment's files, ledger, refs, a directory elsewhere, and no
process of the sandbox's uid outlives the run).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from redteam.lab import SECRET, lab_config, sandbox_processes, snapshot
from rsilab.experiment import Experiment


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Experiment]:
    """One experiment per module, with an API key in the harness's own environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENAI_API_KEY", SECRET)
        patch.setenv("ANTHROPIC_API_KEY", SECRET)
        yield Experiment.init(tmp_path_factory.mktemp("redteam") / "exp", "agent", config_text=lab_config())


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory elsewhere on the host, holding a file the attacks try to reach."""
    (tmp_path / "canary.txt").write_text("untouched\n")
    return tmp_path


@pytest.fixture
def untouched(lab: Experiment, outside: Path) -> Iterator[None]:
    """Assert after the test that nothing outside the sandbox changed and nothing of it lives on."""
    before = snapshot(lab.root, outside)
    events = len(lab.events())
    yield
    assert snapshot(lab.root, outside) == before
    assert len(lab.events()) == events
    assert lab.ledger.verify().ok
    assert sandbox_processes() == []


