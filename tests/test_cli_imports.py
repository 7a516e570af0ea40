"""A fast CLI: the read-only commands and `init` load no provider SDK, numeric stack, torch or web stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import demo_config
from rsilab.experiment import Experiment

HEAVY = ("openai", "anthropic", "torch", "llama_cpp", "fastapi", "uvicorn", "jinja2", "plotly", "scipy", "numpy",
         "reasoning_gym", "httpx")
PROBE = """import atexit, sys
watch = set(sys.argv[1].split(","))
atexit.register(lambda: print("LOADED", sorted({m.split(".")[0] for m in sys.modules} & watch), file=sys.stderr))
from rsilab.cli import main
sys.argv = ["rsilab", *sys.argv[2:]]
main()
"""


def loaded(args: list[str], cwd: Path, watch: tuple[str, ...] = HEAVY) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, ",".join(watch), *args], cwd=cwd, capture_output=True,
                            text=True, timeout=120)
    [line] = [line for line in result.stderr.splitlines() if line.startswith("LOADED")]
    return eval(line.removeprefix("LOADED "))  # a list of names printed by PROBE


def test_help_loads_neither_the_records_nor_any_heavy_package(tmp_path: Path):
    assert loaded(["--help"], tmp_path, (*HEAVY, "pydantic", "pygit2")) == []


@pytest.mark.parametrize("args", [["log"], ["show", "v1"], ["review"], ["ledger", "verify"], ["init", "fresh"]])
def test_commands_that_run_no_round_load_no_heavy_package(tmp_path: Path, args: list[str]):
    Experiment.init(tmp_path / "exp", "agent", config_text=demo_config())
    cwd = tmp_path if args[0] == "init" else tmp_path / "exp"
    assert loaded(args, cwd) == []
