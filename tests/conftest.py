"""Shared fixtures: real experiments in temporary directories."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from rsilab.experiment import Experiment


def demo_config() -> str:
    """The demo's rsilab.toml: scripted proposals touching alignment.toml, breaking the self, fixing a bug."""
    return (resources.files("rsilab") / "demo" / "agent.toml").read_text()


@pytest.fixture
def demo_experiment(tmp_path: Path) -> Experiment:
    return Experiment.init(tmp_path / "exp", "agent", config_text=demo_config())
