"""Shared fixtures: real experiments in temporary directories."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests: a bounded default; HYPOTHESIS_PROFILE=slow for a long fuzzing run.
settings.register_profile("default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("slow", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

from rsilab.experiment import Experiment


def demo_config() -> str:
    """The demo's rsilab.toml: scripted proposals touching alignment.toml, breaking the self, fixing a bug."""
    return (resources.files("rsilab") / "demo" / "agent.toml").read_text()


@pytest.fixture
def demo_experiment(tmp_path: Path) -> Experiment:
    return Experiment.init(tmp_path / "exp", "agent", config_text=demo_config())
