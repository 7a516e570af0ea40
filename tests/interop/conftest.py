"""A real 3-round experiment whose suite is an Inspect task file, tracked to MLflow as it runs.

One run serves the suite, export, viewer and tracking tests (they only read it).
"""

from __future__ import annotations

import pytest
from interop_lab import make_experiment, need

from rsilab.experiment import Experiment


@pytest.fixture(scope="session")
def inspect_round(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    """Three real rounds on the Inspect dataset, each logged to a file MLflow store as it completes."""
    need("inspect_ai")
    need("mlflow")
    exp = make_experiment(tmp_path_factory.mktemp("inspect") / "lab")
    results = exp.run(3)
    assert [r.outcome for r in results] == ["rejected", "rejected", "deployed"], results
    return exp

