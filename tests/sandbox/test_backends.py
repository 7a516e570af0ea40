"""Choosing a backend: bwrap by default, a loud warning without isolation, and the integrity bracket."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from redteam.lab import lab_config, needs_bwrap
from rsilab.config import SandboxConfig
from rsilab.errors import SandboxError
from rsilab.experiment import Experiment


def test_bwrap_is_the_default_backend() -> None:
    assert SandboxConfig().backend == "bwrap"


@pytest.mark.parametrize("backend", ["none-UNSAFE", "process"])
def test_running_without_isolation_warns_on_every_run(tmp_path: Path, backend: str) -> None:
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=lab_config(backend=backend))
    said: list[str] = []
    for rounds in (1, 2):
        with pytest.warns(UserWarning, match="UNSAFE"):
            exp.run(rounds, report=lambda stage, message: said.append(message))
    assert sum("UNSAFE" in m and "no filesystem, network or process isolation" in m for m in said) == 2


def test_a_run_that_changes_the_deployed_self_is_caught_by_the_integrity_bracket(tmp_path: Path) -> None:
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=lab_config(backend="none-UNSAFE"))
    target = exp.root / "self" / "alignment.toml"
    with pytest.warns(UserWarning), pytest.raises(SandboxError, match="self/alignment.toml"):
        exp.sandbox_exec([sys.executable, "-c", f"open({str(target)!r}, 'a').write('max_calls_per_task = 80')"])


@needs_bwrap
def test_sandbox_exec_prints_the_output_and_the_violations_and_exits_with_the_code(tmp_path: Path) -> None:
    exp = Experiment.init(tmp_path / "exp", "agent", config_text=lab_config())
    code = "import socket, sys; print('inside', socket.gethostname()); socket.socket().connect(('127.0.0.1', 9))"
    done = subprocess.run([sys.executable, "-m", "rsilab.cli", "sandbox", "exec", "-C", str(exp.root), "--",
                           "python3", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "inside rsilab-sandbox" in done.stdout
    assert "violation: network: " in done.stderr and "IP packet(s)" in done.stderr  # the kernel's count
    assert "self-reported: network: socket.connect 127.0.0.1:9" in done.stderr  # the witness's, labelled
    assert "ConnectionRefusedError" in done.stderr or "Network is unreachable" in done.stderr
