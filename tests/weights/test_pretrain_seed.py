"""The transformer template's pretraining is a function of its seed: the same seed, the same weights."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import tomli_w

pytest.importorskip("torch", reason="needs the `weights` extra")

TEMPLATE = resources.files("rsilab") / "templates" / "transformer"


def pretrain(workdir: Path, seed: int) -> bytes:
    """Three pretraining steps of the template's own main.py (outside any sandbox: the code is ours)."""
    workdir.mkdir()
    for entry in TEMPLATE.iterdir():  # every file of the template, so a module it adds comes along
        if entry.is_file():
            (workdir / entry.name).write_bytes(entry.read_bytes())
    recipe = tomllib.loads((TEMPLATE / "recipe.toml").read_text())
    recipe["pretrain"]["steps"] = 3
    (workdir / "recipe.toml").write_text(tomli_w.dumps(recipe))
    request = {"seed": seed, "device": "cpu", "output": "weights.safetensors",
               "replay": [[f"{a}+{b}", str(a + b)] for a in range(1, 12) for b in range(1, 12)]}
    (workdir / "in.json").write_text(json.dumps(request))
    done = subprocess.run([sys.executable, "main.py", "train", "in.json", "out.json"], cwd=workdir,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return (workdir / "weights.safetensors").read_bytes()


def test_the_same_seed_gives_the_same_pretrained_weights_and_another_seed_others(tmp_path: Path):
    # The model's initial weights came from an unseeded generator once: a slow test's round then
    # started from a different v1 each time and failed about one run in three.
    first, again, other = pretrain(tmp_path / "a", 7), pretrain(tmp_path / "b", 7), pretrain(tmp_path / "c", 8)
    assert first == again
    assert first != other
