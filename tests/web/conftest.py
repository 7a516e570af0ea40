"""Fixtures for the dashboard: a real experiment with a proposal awaiting a person, and clients for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import demo_config
from dashboard_client import COOKIE, HOST, TOKEN
from fastapi.testclient import TestClient

from rsilab.experiment import Experiment
from rsilab.web.app import create_app


@pytest.fixture(scope="session")
def pending_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three scripted rounds under human review: v2 and v3 rejected by gates, v4 awaits a person."""
    config = demo_config().replace('autonomy = "policy"', 'autonomy = "human"')
    exp = Experiment.init(tmp_path_factory.mktemp("template") / "exp", "agent", config_text=config)
    results = exp.run(3)
    assert results[-1].outcome == "awaiting-review" and results[-1].candidate == "v4"
    exp.ledger.close()
    return exp.root


@pytest.fixture
def pending_experiment(pending_template: Path, tmp_path: Path) -> Iterator[Experiment]:
    """A private copy of the template (its git repository, SQLite ledger and artifacts), free to change."""
    root = tmp_path / "exp"
    shutil.copytree(pending_template, root)
    exp = Experiment(root)
    yield exp
    exp.ledger.close()


@pytest.fixture
def anonymous(pending_experiment: Experiment) -> Iterator[TestClient]:
    """A client that has not shown the token."""
    app = create_app(Experiment(pending_experiment.root), TOKEN, [HOST])
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(anonymous: TestClient) -> TestClient:
    """A client that opened the address with the token once and holds the session cookie."""
    response = anonymous.get(f"/?token={TOKEN}")
    assert response.status_code == 303 and COOKIE in response.cookies
    return anonymous

