"""`rsilab demo`, as a person runs it: each part in its own experiment under the demo directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rsilab.experiment import Experiment


def test_demo_agent_part_shows_three_gates_and_a_deployed_fix(tmp_path: Path):
    where = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "rsilab.cli", "demo", str(where), "--part", "agent"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "protected-integrity: FAIL" in done.stdout and "contract: FAIL" in done.stdout
    assert "v4 is deployed" in done.stdout
    rows = Experiment(where / "agent").rows()
    assert [rows[v].state for v in ("v2", "v3", "v4")] == ["rejected", "rejected", "deployed"]


def test_demo_refuses_to_replace_a_directory_it_did_not_make(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    done = subprocess.run([sys.executable, "-m", "rsilab.cli", "demo", str(tmp_path / "mine")],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "not a demo directory" in done.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_demo_adapters_part_without_a_prepared_base_says_how_to_prepare_it_and_makes_nothing(tmp_path: Path):
    where = tmp_path / "demo"
    env = {**os.environ, "RSILAB_CACHE_DIR": str(tmp_path / "empty-cache")}
    done = subprocess.run([sys.executable, "-m", "rsilab.cli", "demo", str(where), "--part", "adapters"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 1, done.stdout
    assert "rsilab adapters prepare" in done.stderr and "qwen2.5-coder-0.5b-instruct" in done.stderr, done.stderr
    assert not where.exists()
